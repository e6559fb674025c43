// Package tinymodel writes a tiny llama model with random weights for the
// real Ollama server: its words are noise, but the embed, chat, streaming
// and tool-call formats on the wire are Ollama's own. The adapter's wire
// tests and bench/backfill.sh run on it; nothing that ships imports it.
package tinymodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/ollama/ollama/fs/ggml"
)

// Write writes tiny.gguf and a Modelfile for it into dir; `ollama
// create NAME -f Modelfile` run in dir makes the model.
func Write(dir string) error {
	if err := writeTinyGGUF(filepath.Join(dir, "tiny.gguf")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "Modelfile"), []byte(tinyModelfile), 0o644)
}

// Dimension is the length of the tiny model's embeddings.
const Dimension = tinyEmbd

// Tiny model dimensions.
const (
	tinyEmbd  = 64
	tinyHeads = 4
	tinyFF    = 128
)

// tinyVocab is a SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte
// tokens (byte fallback) and the printable ASCII characters, with "▁" for
// the space.
func tinyVocab() (tokens []string, scores []float32, types []int32) {
	add := func(tok string, typ int32) {
		tokens = append(tokens, tok)
		scores = append(scores, -float32(len(tokens)))
		types = append(types, typ)
	}
	add("<unk>", 2)
	add("<s>", 3)
	add("</s>", 3)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 6)
	}
	add("▁", 1)
	for c := '!'; c <= '~'; c++ {
		add(string(c), 1)
	}
	return tokens, scores, types
}

// writeTinyGGUF writes a one-block llama model with seeded random weights.
func writeTinyGGUF(path string) error {
	tokens, scores, types := tinyVocab()
	rng := rand.New(rand.NewPCG(1, 2))
	tensor := func(name string, shape ...uint64) *ggml.Tensor {
		n := uint64(1)
		for _, d := range shape {
			n *= d
		}
		buf := make([]byte, 4*n)
		for i := range n {
			v := float32(rng.NormFloat64() * 0.2)
			if strings.HasSuffix(name, "norm.weight") {
				v = 1
			}
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if name == "output.weight" { // never end the answer early: </s> scores 0
			clear(buf[2*tinyEmbd*4 : 3*tinyEmbd*4])
		}
		return &ggml.Tensor{Name: name, Kind: 0, Shape: shape, WriterTo: bytes.NewReader(buf)}
	}
	v := uint64(len(tokens))
	ts := []*ggml.Tensor{
		tensor("token_embd.weight", tinyEmbd, v),
		tensor("output_norm.weight", tinyEmbd),
		tensor("output.weight", tinyEmbd, v),
		tensor("blk.0.attn_norm.weight", tinyEmbd),
		tensor("blk.0.attn_q.weight", tinyEmbd, tinyEmbd),
		tensor("blk.0.attn_k.weight", tinyEmbd, tinyEmbd),
		tensor("blk.0.attn_v.weight", tinyEmbd, tinyEmbd),
		tensor("blk.0.attn_output.weight", tinyEmbd, tinyEmbd),
		tensor("blk.0.ffn_norm.weight", tinyEmbd),
		tensor("blk.0.ffn_gate.weight", tinyEmbd, tinyFF),
		tensor("blk.0.ffn_up.weight", tinyEmbd, tinyFF),
		tensor("blk.0.ffn_down.weight", tinyFF, tinyEmbd),
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ggml.WriteGGUF(f, ggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "bookworm-tiny",
		"llama.block_count":                      uint32(1),
		"llama.context_length":                   uint32(1024),
		"llama.embedding_length":                 uint32(tinyEmbd),
		"llama.feed_forward_length":              uint32(tinyFF),
		"llama.attention.head_count":             uint32(tinyHeads),
		"llama.attention.head_count_kv":          uint32(tinyHeads),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.dimension_count":             uint32(tinyEmbd / tinyHeads),
		"llama.vocab_size":                       uint32(v),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.scores":                  scores,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.unknown_token_id":        uint32(0),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_eos_token":           false,
	}, ts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tinyModelfile has a template with tools whose calls are bare JSON
// objects, which Ollama's tool parser then looks for in the answer.
const tinyModelfile = `FROM ./tiny.gguf
TEMPLATE """{{- if .Tools }}Tools:{{ range .Tools }} {{ .Function.Name }}{{ end }}
{{ end }}{{- range .Messages }}{{ .Role }}: {{ .Content }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{ end }}
{{ end }}assistant: """
PARAMETER temperature 0
PARAMETER num_predict 120
PARAMETER num_ctx 1024
`
