package rating_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	"github.com/bookworm-store/bookworm/internal/core/rating/ratingtest"
)

// fakeSummarizer is a rating.ReviewSummarizer that records what it read and
// answers with text, or fails with err; while gate is not nil every call
// waits for it to close.
type fakeSummarizer struct {
	mu    sync.Mutex
	calls int
	read  [][]rating.SummaryReview
	text  string
	err   error
	gate  chan struct{}
}

func (f *fakeSummarizer) SummarizeReviews(ctx context.Context, reviews []rating.SummaryReview) (string, error) {
	f.mu.Lock()
	f.calls++
	f.read = append(f.read, reviews)
	gate, text, err := f.gate, f.text, f.err
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return text, err
}

func (f *fakeSummarizer) SummaryModel() string { return "fake/v1" }

func (f *fakeSummarizer) set(text string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.text, f.err = text, err
}

func (f *fakeSummarizer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// memCache is a rating.SummaryCache in memory.
type memCache struct {
	mu   sync.Mutex
	rows map[string]rating.CachedSummary
	puts atomic.Int64
}

func (m *memCache) CachedSummary(_ context.Context, bookID string) (rating.CachedSummary, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[bookID]
	return c, ok, nil
}

func (m *memCache) PutSummary(_ context.Context, c rating.CachedSummary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[c.BookID] = c
	m.puts.Add(1)
	return nil
}

func newSummaryService(t *testing.T) (*rating.Service, *fakeSummarizer, *memCache) {
	t.Helper()
	// The store and the catalog must be safe for concurrent callers.
	clock := t0
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	svc := rating.NewService(ratingtest.NewMemoryReviewStore(), liveBook{}, now)
	model := &fakeSummarizer{text: "Readers love it."}
	cache := &memCache{rows: map[string]rating.CachedSummary{}}
	return svc.WithReviewSummaries(model, cache, nil), model, cache
}

// liveBook is a rating.BookChecker that knows bookID alone.
type liveBook struct{}

func (liveBook) BookExists(_ context.Context, id string) (bool, error) { return id == bookID, nil }

func summarize(t *testing.T, svc *rating.Service) rating.ReviewSummary {
	t.Helper()
	s, err := svc.SummarizeReviews(context.Background(), bookID)
	if err != nil {
		t.Fatalf("SummarizeReviews: %v", err)
	}
	return s
}

func TestSummarizeReviewsRefusals(t *testing.T) {
	tests := []struct {
		name     string
		book     string
		checkErr error
		want     error
	}{
		{name: "not a UUID", book: "book-1", want: failure.ErrInvalid},
		{name: "unknown or deleted book", book: "0195f3a0-0000-7000-8000-000000000009", want: failure.ErrNotFound},
		{name: "catalog unavailable", book: bookID, checkErr: failure.ErrUnavailable, want: failure.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, bs := newService(t)
			model := &fakeSummarizer{text: "x"}
			svc.WithReviewSummaries(model, &memCache{rows: map[string]rating.CachedSummary{}}, nil)
			mustCreate(t, svc, alice, 4)
			bs.err = tc.checkErr
			store.calls = nil
			_, err := svc.SummarizeReviews(context.Background(), tc.book)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if model.count() != 0 || len(store.calls) != 0 {
				t.Fatalf("model called %d times, store asked %v", model.count(), store.calls)
			}
		})
	}
}

func TestSummarizeReviewsWithoutReviews(t *testing.T) {
	svc, model, _ := newSummaryService(t)
	s := summarize(t, svc)
	if s.Source != rating.SourceNone || s.Text != "" || s.ReviewCount != 0 || s.Degraded || s.BookID != bookID {
		t.Fatalf("summary %+v, want an empty one of source none", s)
	}
	if model.count() != 0 {
		t.Fatal("the model was asked to summarize no reviews")
	}
}

func TestSummarizeReviewsCachedUntilTheReviewsChange(t *testing.T) {
	svc, model, cache := newSummaryService(t)
	ctx := context.Background()
	mine := mustCreate(t, svc, alice, 4)

	model.set("Summary 1.", nil)
	s := summarize(t, svc)
	if s.Source != rating.SourceModel || s.Text != "Summary 1." || s.Degraded || s.ReviewCount != 1 ||
		s.ReviewsRead != 1 || s.Model != "fake/v1" || s.CreateTime.IsZero() {
		t.Fatalf("first summary %+v", s)
	}
	steps := []struct {
		name    string
		change  func()
		calls   int // model calls after the step's summary
		reviews int64
	}{
		{name: "nothing changed: cached", change: func() {}, calls: 1, reviews: 1},
		{name: "a review created", change: func() { mustCreate(t, svc, bob, 2) }, calls: 2, reviews: 2},
		{name: "again: cached", change: func() {}, calls: 2, reviews: 2},
		{name: "a review's text edited", change: func() {
			if _, err := svc.UpdateReview(ctx, alice, mine.ID(), "", rating.ReviewFields{Body: "On second thought, long."}, []string{rating.FieldBody}); err != nil {
				t.Fatal(err)
			}
		}, calls: 3, reviews: 2},
		{name: "an update to equal values changes nothing", change: func() {
			if _, err := svc.UpdateReview(ctx, alice, mine.ID(), "", rating.ReviewFields{Body: "On second thought, long."}, []string{rating.FieldBody}); err != nil {
				t.Fatal(err)
			}
		}, calls: 3, reviews: 2},
		{name: "a review deleted", change: func() {
			if err := svc.DeleteReview(ctx, alice, mine.ID()); err != nil {
				t.Fatal(err)
			}
		}, calls: 4, reviews: 1},
	}
	for _, st := range steps {
		st.change()
		model.set(fmt.Sprintf("Summary %d.", model.count()+1), nil)
		s := summarize(t, svc)
		if model.count() != st.calls {
			t.Fatalf("%s: %d model calls, want %d", st.name, model.count(), st.calls)
		}
		if s.Source != rating.SourceModel || s.ReviewCount != st.reviews || s.Text != fmt.Sprintf("Summary %d.", st.calls) {
			t.Fatalf("%s: summary %+v", st.name, s)
		}
	}
	if got := cache.puts.Load(); got != 4 {
		t.Errorf("%d summaries cached, want one per model call (4)", got)
	}
}

func TestSummarizeReviewsWithoutTheModel(t *testing.T) {
	svc, model, cache := newSummaryService(t)
	mustCreate(t, svc, alice, 5)
	mustCreate(t, svc, bob, 2)
	model.set("", fmt.Errorf("%w: ollama chat: connection refused", failure.ErrUnavailable))
	want := "2 reviews, 3.5 stars out of 5 on average: 1 gives 5 stars and 1 gives 2 stars."
	for range 2 {
		s := summarize(t, svc)
		if s.Source != rating.SourceStatistics || !s.Degraded || s.DegradedReason != rating.DegradedModelUnavailable ||
			s.Text != want || s.ReviewCount != 2 || s.ReviewsRead != 0 {
			t.Fatalf("summary without the model %+v", s)
		}
	}
	if model.count() != 2 || cache.puts.Load() != 0 {
		t.Fatalf("%d model calls, %d cached: a fallback must not be cached (the next call asks again)", model.count(), cache.puts.Load())
	}
	// Back: the model's summary, without any review changing.
	model.set("Back again.", nil)
	if s := summarize(t, svc); s.Source != rating.SourceModel || s.Degraded || s.Text != "Back again." {
		t.Fatalf("summary once the model is back %+v", s)
	}
	// An answer that is empty once trimmed is no summary either.
	model.set(" \n ", nil)
	mustCreate(t, svc, identity.Principal{Subject: "carol", Roles: []string{identity.RoleUser}}, 3)
	if s := summarize(t, svc); s.Source != rating.SourceStatistics || s.DegradedReason != rating.DegradedModelUnavailable {
		t.Fatalf("an empty answer gave %+v", s)
	}
}

func TestSummarizeReviewsWithoutAModelConfigured(t *testing.T) {
	svc, _, _ := newService(t)
	mustCreate(t, svc, alice, 3)
	s := summarize(t, svc)
	if s.Source != rating.SourceStatistics || !s.Degraded || s.DegradedReason != rating.DegradedModelOff ||
		s.Text != "1 review, 3.0 stars out of 5 on average: 1 gives 3 stars." {
		t.Fatalf("summary %+v", s)
	}
}

func TestSummarizeReviewsConcurrentCallersShareOneModelCall(t *testing.T) {
	svc, model, _ := newSummaryService(t)
	mustCreate(t, svc, alice, 4)
	model.gate = make(chan struct{})
	const callers = 8
	var wg sync.WaitGroup
	out := make([]rating.ReviewSummary, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = svc.SummarizeReviews(context.Background(), bookID)
		}()
	}
	// Let the callers pile up on the one call, then answer it.
	for model.count() == 0 {
		runtime.Gosched()
	}
	close(model.gate)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || out[i].Source != rating.SourceModel || out[i].Text != "Readers love it." {
			t.Fatalf("caller %d: %+v, %v", i, out[i], errs[i])
		}
	}
	// Callers that arrived after the call ended read the cache; none may
	// have started a second call.
	if model.count() != 1 {
		t.Fatalf("%d model calls for %d concurrent callers, want 1", model.count(), callers)
	}
}

func TestSummarizeReviewsACallerGivingUpDoesNotCancelTheCall(t *testing.T) {
	svc, model, cache := newSummaryService(t)
	mustCreate(t, svc, alice, 4)
	model.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := svc.SummarizeReviews(ctx, bookID)
		done <- err
	}()
	for model.count() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled caller got %v", err)
	}
	close(model.gate)
	// The call runs on and caches its summary for the next caller.
	for cache.puts.Load() == 0 {
		runtime.Gosched()
	}
	if s := summarize(t, svc); s.Source != rating.SourceModel || model.count() != 1 {
		t.Fatalf("after the cancelled call: %+v, %d model calls", s, model.count())
	}
}

func TestSummarizeReviewsBoundsTheInput(t *testing.T) {
	svc, model, _ := newSummaryService(t)
	long := strings.Repeat("word ", 400) // 2,000 characters
	for i := range 30 {
		p := identity.Principal{Subject: fmt.Sprintf("user-%02d", i), Roles: []string{identity.RoleUser}}
		if _, err := svc.CreateReview(context.Background(), p, bookID, rating.ReviewFields{
			Stars: 3, Title: fmt.Sprintf("Review %02d", i), Body: long}); err != nil {
			t.Fatal(err)
		}
	}
	summarize(t, svc)
	if len(model.read) != 1 {
		t.Fatalf("%d model calls", len(model.read))
	}
	read := model.read[0]
	total := 0
	for _, r := range read {
		n := utf8.RuneCountInString(r.Title) + utf8.RuneCountInString(r.Body)
		if n > rating.MaxSummaryReviewLen {
			t.Errorf("a review of %d characters was read, the most is %d", n, rating.MaxSummaryReviewLen)
		}
		total += n
	}
	if total > rating.MaxSummaryInputLen || len(read) == 0 || len(read) > rating.MaxSummaryReviews {
		t.Fatalf("read %d reviews of %d characters in all", len(read), total)
	}
	// The newest first: the last one written leads.
	if read[0].Title != "Review 29" {
		t.Fatalf("first review read %q, want the newest (Review 29)", read[0].Title)
	}
}

func TestSummarizeReviewsCutsALongAnswer(t *testing.T) {
	svc, model, _ := newSummaryService(t)
	mustCreate(t, svc, alice, 4)
	model.set(strings.Repeat("é", 3*rating.MaxSummaryLen), nil)
	s := summarize(t, svc)
	if n := utf8.RuneCountInString(s.Text); n != rating.MaxSummaryLen || !strings.HasSuffix(s.Text, "…") {
		t.Fatalf("summary of %d characters, want %d ending in an ellipsis", n, rating.MaxSummaryLen)
	}
}

func TestStatisticsText(t *testing.T) {
	tests := []struct {
		hist [5]int64
		want string
	}{
		{hist: [5]int64{}, want: ""},
		{hist: [5]int64{0, 0, 0, 0, 1}, want: "1 review, 5.0 stars out of 5 on average: 1 gives 5 stars."},
		{hist: [5]int64{1, 0, 0, 0, 0}, want: "1 review, 1.0 stars out of 5 on average: 1 gives 1 star."},
		{hist: [5]int64{0, 0, 3, 0, 0}, want: "3 reviews, 3.0 stars out of 5 on average: 3 give 3 stars."},
		{hist: [5]int64{1, 0, 2, 0, 4}, want: "7 reviews, 3.9 stars out of 5 on average: 4 give 5 stars, 2 give 3 stars and 1 gives 1 star."},
	}
	for _, tc := range tests {
		if got := rating.StatisticsText(rating.Summary{Histogram: tc.hist}); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.hist, got, tc.want)
		}
	}
}
