package catalog

import (
	"context"
	"errors"
	"sync"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// queryCacheSize is how many query embeddings the service remembers.
const queryCacheSize = 4096

// semantic is the service's side of semantic search: the embedder and a
// cache of query embeddings (a query embedded once costs no model call on
// its next pages or its next asker).
type semantic struct {
	embedder Embedder
	model    string

	mu    sync.Mutex
	cache map[string][]float32
	order []string // insertion order, for eviction
}

// WithSemanticSearch makes SearchBooks embed queries with embedder (whose
// vectors the stores hold as made by model), so that the semantic and
// hybrid modes can answer. Without it every search is lexical, marked
// DegradedSemanticOff when another mode was asked for.
func (s *Service) WithSemanticSearch(embedder Embedder, model string) *Service {
	s.semantic = &semantic{embedder: embedder, model: model, cache: map[string][]float32{}}
	return s
}

// queryVector returns the embedding of query, from the cache when it can.
func (m *semantic) queryVector(ctx context.Context, query string) ([]float32, error) {
	m.mu.Lock()
	v, ok := m.cache[query]
	m.mu.Unlock()
	if ok {
		return v, nil
	}
	e, err := m.embedder.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	if len(e.Vectors) != 1 {
		return nil, failure.ErrUnavailable
	}
	v = e.Vectors[0]
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cache[query]; !ok {
		if len(m.order) >= queryCacheSize {
			delete(m.cache, m.order[0])
			m.order = m.order[1:]
		}
		m.cache[query] = v
		m.order = append(m.order, query)
	}
	return v, nil
}

// prepareSearch fills the query's embedding for the semantic modes. It
// returns the reason the search must be lexical, or "". The mode asked for
// stays in the query: page tokens are bound to it.
func (s *Service) prepareSearch(ctx context.Context, q *SearchBooksQuery) (string, error) {
	if q.Mode == SearchLexical {
		return "", nil
	}
	if s.semantic == nil {
		return DegradedSemanticOff, nil
	}
	v, err := s.semantic.queryVector(ctx, q.Query)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if !errors.Is(err, failure.ErrUnavailable) {
			return "", err
		}
		return DegradedModelUnavailable, nil
	}
	q.Embedding, q.EmbeddingModel = v, s.semantic.model
	return "", nil
}

// Similar books.
const (
	DefaultSimilarBooks = 10
	MaxSimilarBooks     = 50
)

// SimilarBooks finds the books related to a book. Implementations must be
// safe for concurrent use.
type SimilarBooks interface {
	// SimilarBooks returns up to limit live books whose embeddings by model
	// are nearest the book's, nearest first, the book itself excluded; ok is
	// false when the book has no embedding of model.
	SimilarBooks(ctx context.Context, id, model string, limit int) (books []*Book, ok bool, err error)
	// RelatedBooks returns up to limit live books sharing an author or the
	// category with the book, those sharing an author first, the book
	// itself excluded.
	RelatedBooks(ctx context.Context, id string, limit int) ([]*Book, error)
}

// SimilarPage is the answer of ListSimilarBooks. Fallback, when not empty,
// says why the books are related by authors and category rather than by
// meaning (DegradedNotEmbedded, DegradedSemanticOff).
type SimilarPage struct {
	Books    []*Book
	Fallback string
}

// WithSimilarBooks sets the store ListSimilarBooks asks.
func (s *Service) WithSimilarBooks(sim SimilarBooks) *Service {
	s.similar = sim
	return s
}

// ListSimilarBooks returns the books nearest a live book by meaning, or,
// without embeddings, the books of its authors and category. It needs no
// model call: the book's own vector is the query.
func (s *Service) ListSimilarBooks(ctx context.Context, id string, limit int) (SimilarPage, error) {
	var v failure.Violations
	if !coreid.Valid(id) {
		v.Add("id", "must be a UUID")
	}
	switch {
	case limit == 0:
		limit = DefaultSimilarBooks
	case limit < 0 || limit > MaxSimilarBooks:
		v.Add("page_size", "must be between 0 and 50")
	}
	if err := v.Err(); err != nil {
		return SimilarPage{}, err
	}
	bs, err := s.books.GetBooks(ctx, []string{id})
	if err != nil {
		return SimilarPage{}, err
	}
	if len(bs) == 0 || bs[0].Deleted() {
		return SimilarPage{}, failure.NotFound("book %s not found", id)
	}
	if s.similar == nil {
		return SimilarPage{Fallback: DegradedSemanticOff}, nil
	}
	fallback := DegradedSemanticOff
	if s.semantic != nil {
		books, ok, err := s.similar.SimilarBooks(ctx, bs[0].ID(), s.semantic.model, limit)
		if err != nil {
			return SimilarPage{}, err
		}
		if ok {
			return SimilarPage{Books: books}, nil
		}
		fallback = DegradedNotEmbedded
	}
	books, err := s.similar.RelatedBooks(ctx, bs[0].ID(), limit)
	if err != nil {
		return SimilarPage{}, err
	}
	return SimilarPage{Books: books, Fallback: fallback}, nil
}
