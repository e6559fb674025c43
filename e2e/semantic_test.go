package e2e

import (
	"testing"
	"time"

	"connectrpc.com/connect"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// TestSemanticSearch runs a server whose Ollama is the deterministic double
// (ollamatest: known paraphrases land near each other), on a database and
// an exchange of its own so that its book events reach only its consumer.
func TestSemanticSearch(t *testing.T) {
	s, ai := startAIServer(t, "semantic")
	noServerErrorsAfter(t, s)
	c := catalogv1connect.NewCatalogServiceClient(http1Client(t), s.baseURL, connect.WithInterceptors(bearer(adminToken)))
	f := newFixture(t, c, 1)
	mk := func(title, desc string) *catalogv1.Book {
		return f.createBook(t, func(in *catalogv1.BookInput) { in.Title, in.Description = title, desc })
	}
	orphan := mk("The Sorcerer's Orphan", "A boy learns spells at a boarding academy.")
	train := mk("Murder on the Night Train", "A detective and a killer share a sleeper car.")
	mk("Gardens of Stone", "Flowers and plants of the old quarter.")
	mk("The Last Voyage", "A ship and her sailors on the open sea.")
	for _, w := range []string{"Alpha", "Beta", "Gamma", "Delta", "Epsilon"} {
		mk(w+" Reports", "Quarterly numbers of "+w+".")
	}
	const total = 9

	search := func(query string, mode catalogv1.SearchMode, size int32, tok string) *catalogv1.SearchBooksResponse {
		t.Helper()
		res, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: query, Mode: mode, PageSize: size, PageToken: tok}))
		if err != nil {
			t.Fatalf("SearchBooks(%q, %v): %v", query, mode, err)
		}
		return res.Msg
	}
	first := func(r *catalogv1.SearchBooksResponse) string {
		if len(r.GetResults()) == 0 {
			return ""
		}
		return r.GetResults()[0].GetBook().GetId()
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	const paraphrase = "young wizard school magic"

	// New books are embedded once their events are consumed.
	eventually("the new books are embedded", func() bool {
		r := search(paraphrase, catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 100, "")
		return !r.GetDegraded() && len(r.GetResults()) == total
	})
	for _, mode := range []catalogv1.SearchMode{catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, catalogv1.SearchMode_SEARCH_MODE_HYBRID, catalogv1.SearchMode_SEARCH_MODE_UNSPECIFIED} {
		r := search(paraphrase, mode, 10, "")
		if first(r) != orphan.GetId() || r.GetDegraded() {
			t.Errorf("mode %v: first %q (degraded %v), want the orphan", mode, first(r), r.GetDegraded())
		}
		want := mode
		if mode == catalogv1.SearchMode_SEARCH_MODE_UNSPECIFIED {
			want = catalogv1.SearchMode_SEARCH_MODE_HYBRID
		}
		if r.GetMode() != want {
			t.Errorf("mode %v answered as %v, want %v", mode, r.GetMode(), want)
		}
	}
	if r := search(paraphrase, catalogv1.SearchMode_SEARCH_MODE_LEXICAL, 10, ""); first(r) == orphan.GetId() || r.GetMode() != catalogv1.SearchMode_SEARCH_MODE_LEXICAL || r.GetDegraded() {
		t.Errorf("lexical: first %q mode %v degraded %v; the paraphrase shares no word with the book", first(r), r.GetMode(), r.GetDegraded())
	}
	if r := search("Murder on the Night Train", catalogv1.SearchMode_SEARCH_MODE_HYBRID, 10, ""); first(r) != train.GetId() {
		t.Errorf("hybrid lost the exact title match: first %q", first(r))
	}
	// Every page is reachable in the semantic modes.
	for _, mode := range []catalogv1.SearchMode{catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, catalogv1.SearchMode_SEARCH_MODE_HYBRID} {
		seen := map[string]bool{}
		for tok := ""; ; {
			r := search(paraphrase, mode, 2, tok)
			for _, h := range r.GetResults() {
				if seen[h.GetBook().GetId()] {
					t.Fatalf("mode %v: %q twice", mode, h.GetBook().GetTitle())
				}
				seen[h.GetBook().GetId()] = true
			}
			if tok = r.GetNextPageToken(); tok == "" {
				break
			}
		}
		if len(seen) != total {
			t.Errorf("mode %v: pages reached %d books, want %d", mode, len(seen), total)
		}
	}
	// An updated description moves the book.
	if _, err := c.UpdateBook(t.Context(), connect.NewRequest(&catalogv1.UpdateBookRequest{Id: orphan.GetId(),
		Book:       &catalogv1.BookInput{Description: "An astronaut crosses the galaxy to a distant planet."},
		UpdateMask: mask("description")})); err != nil {
		t.Fatal(err)
	}
	eventually("the updated book is embedded again", func() bool {
		return first(search("interstellar cosmos spaceship orbit", catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 5, "")) == orphan.GetId()
	})
	// A deleted book disappears from every mode.
	if _, err := c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: train.GetId()})); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []catalogv1.SearchMode{catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, catalogv1.SearchMode_SEARCH_MODE_HYBRID, catalogv1.SearchMode_SEARCH_MODE_LEXICAL} {
		for _, h := range search("detective murder train", mode, 100, "").GetResults() {
			if h.GetBook().GetId() == train.GetId() {
				t.Errorf("mode %v still finds the deleted book", mode)
			}
		}
	}
	// Similar books: neighbours by meaning, never the book itself nor a
	// deleted one; a missing book is NotFound.
	similar := func(id string) *catalogv1.ListSimilarBooksResponse {
		t.Helper()
		res, err := c.ListSimilarBooks(t.Context(), connect.NewRequest(&catalogv1.ListSimilarBooksRequest{Id: id, PageSize: 50}))
		if err != nil {
			t.Fatalf("ListSimilarBooks: %v", err)
		}
		return res.Msg
	}
	if r := similar(orphan.GetId()); r.GetFallback() || len(r.GetBooks()) != total-2 {
		t.Errorf("similar books: %d (fallback %v %q), want the %d other live books", len(r.GetBooks()), r.GetFallback(), r.GetFallbackReason(), total-2)
	} else {
		for _, b := range r.GetBooks() {
			if b.GetId() == orphan.GetId() || b.GetId() == train.GetId() {
				t.Errorf("similar books include %q", b.GetTitle())
			}
		}
	}
	_, err := c.ListSimilarBooks(t.Context(), connect.NewRequest(&catalogv1.ListSimilarBooksRequest{Id: train.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	// Ollama stopped: lexical, marked degraded, never an error.
	ai.Stop()
	for i, q := range []string{"dragon lore", "sorcerer", "magic school", "haunted ship", "garden flowers"} {
		for _, mode := range []catalogv1.SearchMode{catalogv1.SearchMode_SEARCH_MODE_UNSPECIFIED, catalogv1.SearchMode_SEARCH_MODE_SEMANTIC} {
			res, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: q, Mode: mode}))
			if err != nil {
				t.Fatalf("search %d with Ollama stopped: %v (code %v)", i, err, connect.CodeOf(err))
			}
			if r := res.Msg; r.GetMode() != catalogv1.SearchMode_SEARCH_MODE_LEXICAL || !r.GetDegraded() || r.GetDegradedReason() != "model_unavailable" {
				t.Fatalf("with Ollama stopped: mode %v degraded %v (%q)", r.GetMode(), r.GetDegraded(), r.GetDegradedReason())
			}
		}
	}
	// Similar books need no model call: the book's own vector is the query.
	if r := similar(orphan.GetId()); r.GetFallback() {
		t.Errorf("similar books fell back with Ollama stopped: %q", r.GetFallbackReason())
	}
	// Back when Ollama returns (after the breaker's open interval).
	if err := ai.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually("semantic search is back", func() bool {
		r := search("a boy and his spells", catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 5, "")
		return r.GetMode() == catalogv1.SearchMode_SEARCH_MODE_SEMANTIC && !r.GetDegraded()
	})
	// Renaming an author re-embeds the author's books, with no book event:
	// a paraphrase of the new name finds the book, which before found the
	// only book that meant it.
	decoy := mk("Drake and Automaton", "Harbour ledgers, almanac notes and shipping lists of the old port.")
	au := createAuthor(t, c, uniq("Author"))
	lone := f.createBook(t, func(in *catalogv1.BookInput) {
		in.Title, in.Description, in.AuthorIds = "Tide", "Tides.", []string{au.GetId()}
	})
	const newName = "wyrm android"
	eventually("the decoy and the lone book are embedded", func() bool {
		return first(search(newName, catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 5, "")) == decoy.GetId() &&
			first(search("tide tides", catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 5, "")) == lone.GetId()
	})
	if _, err := c.UpdateAuthor(t.Context(), connect.NewRequest(&catalogv1.UpdateAuthorRequest{Id: au.GetId(),
		Author: &catalogv1.AuthorInput{Name: "Dragon Robot"}, UpdateMask: mask("name")})); err != nil {
		t.Fatal(err)
	}
	eventually("the renamed author's book is embedded again", func() bool {
		return first(search(newName, catalogv1.SearchMode_SEARCH_MODE_SEMANTIC, 5, "")) == lone.GetId()
	})
}
