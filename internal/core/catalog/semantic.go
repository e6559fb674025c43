package catalog

import (
	"context"
	"errors"
	"sync"

	"github.com/bookworm-store/bookworm/internal/core/failure"
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
