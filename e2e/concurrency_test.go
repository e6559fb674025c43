package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"connectrpc.com/connect"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// writers is how many goroutines race in the concurrency cases.
const writers = 8

func concurrencyCases() []catalogCase {
	return []catalogCase{
		{"UpdateBook/concurrent with one etag", testConcurrentSameEtag},
		{"UpdateBook/concurrent without etag", testConcurrentNoEtag},
		{"UpdateBook/concurrent on different fields", testConcurrentDisjointFields},
	}
}

// race runs update(i) for i in [0, n) at once and returns the results.
func race(n int, update func(i int) (*catalogv1.Book, error)) ([]*catalogv1.Book, []error) {
	books, errs := make([]*catalogv1.Book, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			books[i], errs[i] = update(i)
		})
	}
	close(start)
	wg.Wait()
	return books, errs
}

// testConcurrentSameEtag: every writer sends the etag it read; exactly one
// wins and every other one gets Aborted.
func testConcurrentSameEtag(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	books, errs := race(writers, func(i int) (*catalogv1.Book, error) {
		return updateBook(t, c, &catalogv1.UpdateBookRequest{
			Id: b.GetId(), Etag: b.GetEtag(), Book: &catalogv1.BookInput{Title: fmt.Sprintf("Winner %d", i)}, UpdateMask: mask("title"),
		})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both succeeded with the same etag", winner, i)
		case err == nil:
			winner = i
		case connect.CodeOf(err) != connect.CodeAborted:
			t.Errorf("writer %d: %v, want Aborted", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	got := getBook(t, c, b.GetId())
	if got.GetTitle() != books[winner].GetTitle() || got.GetEtag() != books[winner].GetEtag() {
		t.Errorf("book is %q etag %q, want the winner's %q etag %q", got.GetTitle(), got.GetEtag(), books[winner].GetTitle(), books[winner].GetEtag())
	}
}

// testConcurrentNoEtag: writers without an etag may each succeed or lose the
// race with Aborted, but no success is lost: every success produced its own
// version, the final state is the last success's, and (when etags are
// version numbers) the version advanced once per success.
func testConcurrentNoEtag(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	books, errs := race(writers, func(i int) (*catalogv1.Book, error) {
		return updateBook(t, c, &catalogv1.UpdateBookRequest{
			Id: b.GetId(), Book: &catalogv1.BookInput{Title: fmt.Sprintf("Writer %d", i), StockQuantity: int32(100 + i)},
			UpdateMask: mask("title", "stock_quantity"),
		})
	})
	var wins []*catalogv1.Book
	for i, err := range errs {
		switch {
		case err == nil:
			wins = append(wins, books[i])
			if books[i].GetTitle() != fmt.Sprintf("Writer %d", i) || books[i].GetStockQuantity() != int32(100+i) {
				t.Errorf("writer %d got back %q stock %d", i, books[i].GetTitle(), books[i].GetStockQuantity())
			}
		case connect.CodeOf(err) != connect.CodeAborted:
			t.Errorf("writer %d: %v, want success or Aborted", i, err)
		}
	}
	if len(wins) == 0 {
		t.Fatal("no writer succeeded")
	}
	t.Logf("%d of %d writers without an etag succeeded", len(wins), writers)
	etags := map[string]bool{}
	for _, w := range wins {
		if etags[w.GetEtag()] {
			t.Errorf("two successful writes share etag %q: one of them was lost", w.GetEtag())
		}
		etags[w.GetEtag()] = true
	}
	got := getBook(t, c, b.GetId())
	i := slices.IndexFunc(wins, func(w *catalogv1.Book) bool { return w.GetEtag() == got.GetEtag() })
	if i < 0 {
		t.Fatalf("final etag %q is none of the successful writes' %v", got.GetEtag(), etags)
	}
	if got.GetTitle() != wins[i].GetTitle() || got.GetStockQuantity() != wins[i].GetStockQuantity() {
		t.Errorf("final state %q/%d is a mix, want %q/%d", got.GetTitle(), got.GetStockQuantity(), wins[i].GetTitle(), wins[i].GetStockQuantity())
	}
	v0, err0 := strconv.ParseInt(b.GetEtag(), 10, 64)
	v1, err1 := strconv.ParseInt(got.GetEtag(), 10, 64)
	if err0 == nil && err1 == nil && v1-v0 != int64(len(wins)) {
		t.Errorf("version went from %d to %d with %d successful writes", v0, v1, len(wins))
	}
}

// testConcurrentDisjointFields: writers change different fields without an
// etag; every successful change must be in the final book.
func testConcurrentDisjointFields(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	title, description, isbn, url := uniq("Disjoint"), "Changed concurrently", randomISBN(), "https://covers.example.net/x.png"
	reqs := []*catalogv1.UpdateBookRequest{
		{Book: &catalogv1.BookInput{Title: title}, UpdateMask: mask("title")},
		{Book: &catalogv1.BookInput{Description: description}, UpdateMask: mask("description")},
		{Book: &catalogv1.BookInput{Isbn: isbn}, UpdateMask: mask("isbn")},
		{Book: &catalogv1.BookInput{StockQuantity: 77}, UpdateMask: mask("stock_quantity")},
		{Book: &catalogv1.BookInput{ImageUrl: url}, UpdateMask: mask("image_url")},
		{Book: &catalogv1.BookInput{Price: eur(4321)}, UpdateMask: mask("price")},
	}
	_, errs := race(len(reqs), func(i int) (*catalogv1.Book, error) {
		reqs[i].Id = b.GetId()
		return updateBook(t, c, reqs[i])
	})
	won := func(i int) bool {
		if errs[i] != nil && connect.CodeOf(errs[i]) != connect.CodeAborted {
			t.Errorf("update of %v: %v, want success or Aborted", reqs[i].GetUpdateMask().GetPaths(), errs[i])
		}
		return errs[i] == nil
	}
	got := getBook(t, c, b.GetId())
	checks := []struct {
		ok   bool
		what string
	}{
		{got.GetTitle() == title, "title"},
		{got.GetDescription() == description, "description"},
		{got.GetIsbn() == isbn, "isbn"},
		{got.GetStockQuantity() == 77, "stock_quantity"},
		{got.GetImageUrl() == url, "image_url"},
		{cents(got.GetPrice()) == 4321, "price"},
	}
	successes := 0
	for i, ch := range checks {
		if won(i) {
			successes++
			if !ch.ok {
				t.Errorf("the successful update of %s was lost: %v", ch.what, got)
			}
		}
	}
	if successes == 0 {
		t.Fatal("no update succeeded")
	}
}
