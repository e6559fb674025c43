package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Embedder turns texts into vectors of one embedding model, for semantic
// search and similar books. Implementations must be safe for concurrent use.
type Embedder interface {
	// Embed returns one vector per text, in the order of texts, all of one
	// model and one dimension. When the model cannot answer now (down,
	// overloaded, its circuit open) the error wraps failure.ErrUnavailable,
	// and callers degrade to the lexical features.
	Embed(ctx context.Context, texts []string) (Embeddings, error)
}

// Embeddings are the vectors an Embedder made. Model names the model that
// made them: vectors of different models (or dimensions) live in different
// spaces and are never compared.
type Embeddings struct {
	Model   string
	Vectors [][]float32
}

// Dimension returns the length of the vectors, 0 when there are none.
func (e Embeddings) Dimension() int {
	if len(e.Vectors) == 0 {
		return 0
	}
	return len(e.Vectors[0])
}

// EmbeddingText is what a book's embedding is computed from: its title,
// authors, category and description, one labelled line each, so that a
// change elsewhere (price, stock) does not re-embed it.
func EmbeddingText(r BookRecord) string {
	var b strings.Builder
	b.WriteString("Title: ")
	b.WriteString(r.Title)
	if len(r.AuthorNames) > 0 {
		b.WriteString("\nAuthors: ")
		b.WriteString(strings.Join(r.AuthorNames, ", "))
	}
	if r.CategoryName != "" {
		b.WriteString("\nCategory: ")
		b.WriteString(r.CategoryName)
	}
	if r.Description != "" {
		b.WriteString("\nDescription: ")
		b.WriteString(r.Description)
	}
	return b.String()
}

// TextHash is the hash stored beside an embedding: the book is embedded
// again only when the hash of its EmbeddingText changes.
func TextHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// EmbeddingStore keeps the books' embeddings. Implementations must be safe
// for concurrent use.
type EmbeddingStore interface {
	// PendingEmbeddings returns up to limit live books, by id after after
	// ("" for the start), whose embedding is missing, made by another model
	// than model, or older than a known change of their text.
	PendingEmbeddings(ctx context.Context, model, after string, limit int) ([]BookRecord, error)
	// CountPendingEmbeddings counts the books PendingEmbeddings would return
	// without a limit.
	CountPendingEmbeddings(ctx context.Context, model string) (int, error)
	// PutEmbeddings stores embeddings made by model; a book deleted in the
	// meantime is skipped.
	PutEmbeddings(ctx context.Context, model string, items []BookEmbedding) error
}

// BookEmbedding is the embedding of one version of a book.
type BookEmbedding struct {
	BookID string
	// Version is the book's version whose text was embedded.
	Version  int64
	TextHash string
	Vector   []float32
}
