package rating

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// Bounds of what the chat model reads and writes for a review summary.
const (
	// MaxSummaryReviews is the most reviews the model reads: the most
	// recent ones.
	MaxSummaryReviews = 20
	// MaxSummaryReviewLen cuts each review's text (title and body) to so
	// many characters, and MaxSummaryInputLen is the budget of all of them
	// together: reviews past it are left out.
	MaxSummaryReviewLen = 1000
	MaxSummaryInputLen  = 8000
	// MaxSummaryLen is the longest summary text kept.
	MaxSummaryLen = 1200
	// DefaultSummaryTimeout bounds one model call for a summary.
	DefaultSummaryTimeout = 30 * time.Second
)

// SummarySource says who wrote a review summary.
type SummarySource int

// The sources.
const (
	// SourceNone: the book has no reviews; the text is empty.
	SourceNone SummarySource = iota + 1
	// SourceModel: the chat model wrote it from the reviews' text.
	SourceModel
	// SourceStatistics: written from the rating histogram alone.
	SourceStatistics
)

// Reasons of a degraded review summary.
const (
	// DegradedModelUnavailable: the model failed, was too slow or is down.
	DegradedModelUnavailable = "model_unavailable"
	// DegradedModelOff: no chat model is configured.
	DegradedModelOff = "model_off"
)

// ReviewSummary is a short text about what a book's reviews say.
type ReviewSummary struct {
	BookID string
	Text   string
	Source SummarySource
	// Degraded is set when the model was wanted but the text comes from
	// statistics; DegradedReason says why.
	Degraded       bool
	DegradedReason string
	// ReviewCount is the number of the book's reviews; ReviewsRead how
	// many of them the model read.
	ReviewCount int64
	ReviewsRead int
	// Model names the model that wrote a SourceModel text.
	Model      string
	CreateTime time.Time
}

// SummaryReview is what the summarizer reads of one review. Title and Body
// are the author's untrusted text.
type SummaryReview struct {
	Stars int32
	Title string
	Body  string
}

// ReviewSummarizer is the chat model writing review summaries.
// Implementations must be safe for concurrent use.
type ReviewSummarizer interface {
	// SummarizeReviews returns a short plain-text summary of reviews.
	// The reviews' text is untrusted: whatever it says, the summary is
	// about the reviews (an implementation keeps it apart from its
	// instructions). When the model cannot answer now the error wraps
	// failure.ErrUnavailable.
	SummarizeReviews(ctx context.Context, reviews []SummaryReview) (string, error)
	// SummaryModel names the model and the version of its instructions:
	// summaries cached under another name are written again.
	SummaryModel() string
}

// CachedSummary is a model's summary as the SummaryCache keeps it, with
// the fingerprint of the reviews it was written from.
type CachedSummary struct {
	BookID      string
	Fingerprint string
	Text        string
	Model       string
	ReviewsRead int
	ReviewCount int64
	CreateTime  time.Time
}

// SummaryCache keeps the model's review summaries, one per book, where
// every replica reads them and a restart keeps them. Implementations must
// be safe for concurrent use.
type SummaryCache interface {
	// CachedSummary returns the book's summary; ok is false when there is
	// none.
	CachedSummary(ctx context.Context, bookID string) (s CachedSummary, ok bool, err error)
	// PutSummary stores the book's summary in place of any other.
	PutSummary(ctx context.Context, s CachedSummary) error
}

// summaries is what a Service needs to write summaries with a model.
type summaries struct {
	model   ReviewSummarizer
	cache   SummaryCache
	log     *slog.Logger
	timeout time.Duration
	// flights shares one model call among the callers of the same book
	// and review set.
	flights singleflight.Group
}

// WithReviewSummaries lets the service's SummarizeReviews ask model for
// summaries, kept in cache. log records model failures (the caller then
// gets the statistics summary); nil discards them.
func (s *Service) WithReviewSummaries(model ReviewSummarizer, cache SummaryCache, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.summaries = &summaries{model: model, cache: cache, log: log, timeout: DefaultSummaryTimeout}
	return s
}

// SummarizeReviews returns a short summary of the reviews of the book
// bookID: the model's, written from the most recent reviews (at most
// MaxSummaryReviews, within MaxSummaryInputLen characters) and cached until
// those reviews or the histogram change; concurrent callers of one book
// share one model call. Without a model, or when it fails, the summary is
// written from the rating histogram and marked Degraded. A book without
// reviews has an empty summary (SourceNone) and costs no model call. A
// book the catalog does not have is failure.ErrNotFound.
func (s *Service) SummarizeReviews(ctx context.Context, bookID string) (ReviewSummary, error) {
	if !coreid.Valid(bookID) {
		return ReviewSummary{}, failure.Invalid("book_id", "must be a UUID")
	}
	bookID = coreid.Canonical(bookID)
	ok, err := s.books.BookExists(ctx, bookID)
	if err != nil {
		return ReviewSummary{}, err
	}
	if !ok {
		return ReviewSummary{}, failure.NotFound("book %s not found", bookID)
	}
	stats, err := s.reviews.Summary(ctx, bookID)
	if err != nil {
		return ReviewSummary{}, err
	}
	if stats.Count() == 0 {
		return ReviewSummary{BookID: bookID, Source: SourceNone, CreateTime: s.now()}, nil
	}
	sm := s.summaries
	if sm == nil {
		return s.statisticsSummary(stats, DegradedModelOff), nil
	}
	page, err := s.reviews.ListReviews(ctx, ListReviewsQuery{BookID: bookID, Order: OrderNewest, PageSize: MaxSummaryReviews})
	if err != nil {
		return ReviewSummary{}, err
	}
	input := SummaryInput(page.Reviews)
	fp := summaryFingerprint(sm.model.SummaryModel(), stats, page.Reviews[:len(input)])
	if c, ok, err := sm.cache.CachedSummary(ctx, bookID); err != nil {
		return ReviewSummary{}, err
	} else if ok && c.Fingerprint == fp {
		return modelSummary(c, stats), nil
	}
	c, err := sm.shared(ctx, bookID+"/"+fp, func() (CachedSummary, error) {
		// The call is shared: it runs to its own deadline whatever the
		// caller that started it does, and its summary is cached for all.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sm.timeout)
		defer cancel()
		text, err := sm.model.SummarizeReviews(cctx, input)
		if err != nil {
			return CachedSummary{}, err
		}
		text = cleanSummary(text)
		if text == "" {
			return CachedSummary{}, fmt.Errorf("%w: the model wrote an empty summary", failure.ErrUnavailable)
		}
		c := CachedSummary{BookID: bookID, Fingerprint: fp, Text: text, Model: sm.model.SummaryModel(),
			ReviewsRead: len(input), ReviewCount: stats.Count(), CreateTime: s.now()}
		if err := sm.cache.PutSummary(cctx, c); err != nil {
			// The summary stands; the next call writes it again.
			sm.log.WarnContext(ctx, "review summary: caching failed", slog.String("book_id", bookID), slog.Any("error", err))
		}
		return c, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ReviewSummary{}, ctx.Err()
		}
		sm.log.WarnContext(ctx, "review summary: the model failed; answering from statistics",
			slog.String("book_id", bookID), slog.Any("error", err))
		return s.statisticsSummary(stats, DegradedModelUnavailable), nil
	}
	return modelSummary(c, stats), nil
}

func modelSummary(c CachedSummary, stats Summary) ReviewSummary {
	return ReviewSummary{BookID: c.BookID, Text: c.Text, Source: SourceModel, ReviewCount: stats.Count(),
		ReviewsRead: c.ReviewsRead, Model: c.Model, CreateTime: c.CreateTime}
}

func (s *Service) statisticsSummary(stats Summary, reason string) ReviewSummary {
	return ReviewSummary{BookID: stats.BookID, Text: StatisticsText(stats), Source: SourceStatistics,
		Degraded: true, DegradedReason: reason, ReviewCount: stats.Count(), CreateTime: s.now()}
}

// SummaryInput is what the model reads of reviews (newest first): each
// review's title and body cut to MaxSummaryReviewLen characters, and no
// more reviews than fit in MaxSummaryInputLen characters together (the
// first always does) or MaxSummaryReviews.
func SummaryInput(reviews []*Review) []SummaryReview {
	var out []SummaryReview
	budget := MaxSummaryInputLen
	for _, r := range reviews[:min(len(reviews), MaxSummaryReviews)] {
		rec := r.Record()
		title := cut(rec.Title, MaxSummaryReviewLen)
		body := cut(rec.Body, MaxSummaryReviewLen-utf8.RuneCountInString(title))
		n := utf8.RuneCountInString(title) + utf8.RuneCountInString(body)
		if len(out) > 0 && n > budget {
			break
		}
		budget -= n
		out = append(out, SummaryReview{Stars: rec.Stars, Title: title, Body: body})
	}
	return out
}

// cut returns the first n characters of s.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// summaryFingerprint identifies what a summary is written from: the model,
// the histogram and the reviews read (ids and versions). A review created,
// edited or removed among them, or a change of stars anywhere, changes it.
func summaryFingerprint(model string, stats Summary, read []*Review) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%v\n", model, stats.Histogram)
	for _, r := range read {
		rec := r.Record()
		fmt.Fprintf(h, "%s:%d\n", rec.ID, rec.Version)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cleanSummary trims the model's text to valid UTF-8 of at most
// MaxSummaryLen characters.
func cleanSummary(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if utf8.RuneCountInString(s) > MaxSummaryLen {
		s = strings.TrimSpace(cut(s, MaxSummaryLen-1)) + "…"
	}
	return s
}

// StatisticsText describes the histogram in words, for when no model
// summary can be had: "3 reviews, 4.3 stars out of 5 on average: 2 give
// 5 stars and 1 gives 3 stars."
func StatisticsText(stats Summary) string {
	n := stats.Count()
	if n == 0 {
		return ""
	}
	var b strings.Builder
	avg := strconv.FormatFloat(stats.Average(), 'f', 1, 64)
	fmt.Fprintf(&b, "%s, %s stars out of 5 on average: ", plural(n, "review", "reviews"), avg)
	var parts []string
	for stars := MaxStars; stars >= MinStars; stars-- {
		c := stats.Histogram[stars-1]
		if c == 0 {
			continue
		}
		verb := "give"
		if c == 1 {
			verb = "gives"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", c, verb, plural(int64(stars), "star", "stars")))
	}
	if len(parts) > 1 {
		b.WriteString(strings.Join(parts[:len(parts)-1], ", "))
		b.WriteString(" and ")
	}
	b.WriteString(parts[len(parts)-1])
	b.WriteString(".")
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// shared runs fn once per key at a time (callers arriving while it runs
// wait for its result) in a goroutine of its own. A caller whose ctx ends
// stops waiting; the call goes on for the others (fn bounds its own time).
func (sm *summaries) shared(ctx context.Context, key string, fn func() (CachedSummary, error)) (CachedSummary, error) {
	ch := sm.flights.DoChan(key, func() (any, error) { return fn() })
	select {
	case r := <-ch:
		c, _ := r.Val.(CachedSummary)
		return c, r.Err
	case <-ctx.Done():
		return CachedSummary{}, ctx.Err()
	}
}
