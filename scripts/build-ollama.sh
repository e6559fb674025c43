#!/usr/bin/env bash
# Builds the real Ollama server from its Go module for the wire-contract test
# (internal/adapters/ollama: TestRealOllama*). Cached: does nothing when the
# binary of this version is already installed. Prints the binary's path.
#
# The module zip drops llama.cpp's vendored headers: nlohmann/json and stb come
# from Debian, and miniaudio (audio input, unused here) gets a stand-in header
# whose decoder always fails.
set -euo pipefail
version="${OLLAMA_VERSION:-v0.17.4}"
dest="${BOOKWORM_OLLAMA_BIN_DIR:-$HOME/.cache/bookworm/ollama-$version}"
bin="$dest/ollama"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

need=()
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
[ -f /usr/include/stb/stb_image.h ] || need+=(libstb-dev)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${need[@]}" >&2; }
fi

inc=$(mktemp -d)
trap 'rm -rf "$inc"' EXIT
mkdir -p "$inc/miniaudio"
cat >"$inc/miniaudio/miniaudio.h" <<'H'
/* Stand-in for miniaudio.h: the module zip leaves it out. Audio decoding
   always fails, which only matters for audio input to multimodal models. */
#pragma once
#include <stddef.h>
#include <stdint.h>
typedef int ma_result;
typedef uint32_t ma_uint32;
typedef uint64_t ma_uint64;
typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;
#define MA_SUCCESS 0
#define MA_ERROR (-1)
typedef struct { ma_format format; ma_uint32 channels; ma_uint32 sampleRate; } ma_decoder_config;
typedef struct { int unused; } ma_decoder;
MA_API ma_decoder_config ma_decoder_config_init(ma_format f, ma_uint32 c, ma_uint32 r) { ma_decoder_config x = {f, c, r}; return x; }
MA_API ma_result ma_decoder_init_memory(const void *d, size_t n, const ma_decoder_config *c, ma_decoder *o) { (void)d; (void)n; (void)c; (void)o; return MA_ERROR; }
MA_API ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *d, ma_uint64 *n) { (void)d; *n = 0; return MA_ERROR; }
MA_API ma_result ma_decoder_read_pcm_frames(ma_decoder *d, void *o, ma_uint64 n, ma_uint64 *r) { (void)d; (void)o; (void)n; *r = 0; return MA_ERROR; }
MA_API ma_result ma_decoder_uninit(ma_decoder *d) { (void)d; return MA_SUCCESS; }
H

mkdir -p "$dest"
echo "building ollama $version (about 3 minutes on 2 cores)" >&2
CGO_CPPFLAGS="-I$inc ${CGO_CPPFLAGS:-}" GOBIN="$dest" GOFLAGS=-mod=mod \
  go install "github.com/ollama/ollama@$version" >&2
echo "$bin"
