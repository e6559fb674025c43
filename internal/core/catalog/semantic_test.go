package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// modeBooks is a Books whose SearchBooks records the query and answers in
// the mode its embedding allows.
type modeBooks struct {
	catalog.Books
	got catalog.SearchBooksQuery
}

func (m *modeBooks) SearchBooks(_ context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	m.got = q
	if q.Embedding == nil || q.Mode == catalog.SearchLexical {
		return catalog.SearchPage{}, nil // the store leaves Mode unset for lexical
	}
	return catalog.SearchPage{Mode: catalog.SearchHybrid}, nil
}

type countingEmbedder struct {
	calls int
	err   error
}

func (e *countingEmbedder) Embed(_ context.Context, texts []string) (catalog.Embeddings, error) {
	e.calls++
	if e.err != nil {
		return catalog.Embeddings{}, e.err
	}
	return catalog.Embeddings{Model: "m", Vectors: [][]float32{{1, 0}}}, nil
}

func TestSearchModesAndDegradation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		semantic     bool
		embedErr     error
		mode         catalog.SearchMode
		wantMode     catalog.SearchMode
		wantDegraded string
	}{
		{"auto without semantic search", false, nil, catalog.SearchAuto, catalog.SearchLexical, ""},
		{"semantic asked without semantic search", false, nil, catalog.SearchSemantic, catalog.SearchLexical, catalog.DegradedSemanticOff},
		{"auto, model up", true, nil, catalog.SearchAuto, catalog.SearchHybrid, ""},
		{"auto, model down", true, failure.ErrUnavailable, catalog.SearchAuto, catalog.SearchLexical, catalog.DegradedModelUnavailable},
		{"hybrid, model down", true, failure.ErrUnavailable, catalog.SearchHybrid, catalog.SearchLexical, catalog.DegradedModelUnavailable},
		{"lexical asked", true, nil, catalog.SearchLexical, catalog.SearchLexical, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			books := &modeBooks{}
			svc := catalog.NewService(books, nil, nil)
			emb := &countingEmbedder{err: tc.embedErr}
			if tc.semantic {
				svc.WithSemanticSearch(emb, "m")
			}
			page, err := svc.SearchBooks(ctx, catalog.SearchBooksQuery{Query: "wizards", Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if page.Mode != tc.wantMode || page.Degraded != tc.wantDegraded {
				t.Fatalf("mode %d degraded %q, want %d %q", page.Mode, page.Degraded, tc.wantMode, tc.wantDegraded)
			}
			if books.got.Mode != tc.mode {
				t.Fatalf("the store got mode %d, want the asked %d (tokens are bound to it)", books.got.Mode, tc.mode)
			}
		})
	}
	t.Run("query embeddings are cached", func(t *testing.T) {
		emb := &countingEmbedder{}
		svc := catalog.NewService(&modeBooks{}, nil, nil).WithSemanticSearch(emb, "m")
		for range 3 {
			if _, err := svc.SearchBooks(ctx, catalog.SearchBooksQuery{Query: "wizards"}); err != nil {
				t.Fatal(err)
			}
		}
		if emb.calls != 1 {
			t.Fatalf("%d model calls for one query asked three times", emb.calls)
		}
	})
	t.Run("the caller's cancellation is an error, not a degradation", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		emb := &countingEmbedder{err: context.Canceled}
		svc := catalog.NewService(&modeBooks{}, nil, nil).WithSemanticSearch(emb, "m")
		if _, err := svc.SearchBooks(cctx, catalog.SearchBooksQuery{Query: "wizards"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an unknown mode is invalid", func(t *testing.T) {
		svc := catalog.NewService(&modeBooks{}, nil, nil)
		if _, err := svc.SearchBooks(ctx, catalog.SearchBooksQuery{Query: "x", Mode: 9}); !errors.Is(err, failure.ErrInvalid) {
			t.Fatalf("err = %v", err)
		}
	})
}
