#!/usr/bin/env bash
# Builds pgvector for PostgreSQL 15 from Debian trixie's source package
# (bookworm has no pgvector package) into a staging directory, cached by
# version: a second run does nothing. Prints the staging directory, whose
# tree (usr/lib/postgresql/15/lib/vector.so, usr/share/postgresql/15/
# extension/vector*) is copied onto a root: the test image's
# (scripts/build-images.sh) or, with --install, this machine's.
#
# Usage: scripts/build-pgvector.sh [--install]
set -euo pipefail
stage_root="${BOOKWORM_PGVECTOR_DIR:-$HOME/.cache/bookworm/pgvector-pg15}"
pg_config=/usr/lib/postgresql/15/bin/pg_config

mirror() {
  local m
  m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

if [ ! -f "$stage_root/done" ]; then
  need=()
  [ -f /usr/include/postgresql/15/server/postgres.h ] || need+=(postgresql-server-dev-15)
  command -v make >/dev/null || need+=(make)
  command -v gcc >/dev/null || need+=(gcc)
  command -v dpkg-source >/dev/null || need+=(dpkg-dev)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${need[@]}" >&2; }
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # A private apt configuration: trixie's sources only, never the machine's lists.
  mkdir -p "$work/lists/partial" "$work/src"
  echo "deb-src $(mirror) trixie main" >"$work/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
  apt-get "${apt_opts[@]}" update >&2
  (cd "$work/src" && apt-get "${apt_opts[@]}" source pgvector >&2)
  src=$(find "$work/src" -maxdepth 1 -mindepth 1 -type d -name 'pgvector-*' | head -1)
  rm -rf "$stage_root" && mkdir -p "$stage_root/root"
  make -C "$src" PG_CONFIG="$pg_config" OPTFLAGS="" >&2
  make -C "$src" PG_CONFIG="$pg_config" DESTDIR="$stage_root/root" install >&2
  basename "$src" >"$stage_root/done"
fi
if [ "${1:-}" = --install ]; then
  cp -r "$stage_root/root/." /
fi
echo "$stage_root/root"
