package ratingstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// ReviewSummaries is rating.SummaryCache on PostgreSQL
// (rating.review_summaries): one summary per book, replaced by the next.
type ReviewSummaries struct {
	db postgres.DB
}

var _ rating.SummaryCache = (*ReviewSummaries)(nil)

// NewReviewSummaries returns the summary cache of db.
func NewReviewSummaries(db postgres.DB) *ReviewSummaries { return &ReviewSummaries{db: db} }

// CachedSummary returns the book's summary, ok false when it has none.
func (s *ReviewSummaries) CachedSummary(ctx context.Context, bookID string) (rating.CachedSummary, bool, error) {
	c := rating.CachedSummary{BookID: bookID}
	err := s.db.QueryRow(ctx, `SELECT fingerprint, text, model, reviews_read, review_count, create_time
		FROM rating.review_summaries WHERE book_id = $1`, bookID).
		Scan(&c.Fingerprint, &c.Text, &c.Model, &c.ReviewsRead, &c.ReviewCount, &c.CreateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return rating.CachedSummary{}, false, nil
	}
	if err != nil {
		return rating.CachedSummary{}, false, errTable.Translate(ctx, err, "review summary of book "+bookID)
	}
	c.CreateTime = c.CreateTime.UTC()
	return c, true, nil
}

// PutSummary stores the book's summary in place of the one it had.
func (s *ReviewSummaries) PutSummary(ctx context.Context, c rating.CachedSummary) error {
	_, err := s.db.Exec(ctx, `INSERT INTO rating.review_summaries AS s
			(book_id, fingerprint, text, model, reviews_read, review_count, create_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (book_id) DO UPDATE SET fingerprint = excluded.fingerprint, text = excluded.text,
			model = excluded.model, reviews_read = excluded.reviews_read, review_count = excluded.review_count,
			create_time = excluded.create_time`,
		c.BookID, c.Fingerprint, c.Text, c.Model, c.ReviewsRead, c.ReviewCount, c.CreateTime)
	return errTable.Translate(ctx, err, "review summary of book "+c.BookID)
}
