package ratingstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// Reviews is rating.ReviewStore on PostgreSQL. Every write commits, in one
// transaction, the review, the book's star counts (rating_summaries) and the
// event announcing the change in the outbox.
type Reviews struct {
	db postgres.DB
}

var _ rating.ReviewStore = (*Reviews)(nil)

// NewReviews returns the review store of db: a pool, or a transaction whose
// commit the store's writes then join (as the rejection consumer's inbox
// transaction).
func NewReviews(db postgres.DB) *Reviews { return &Reviews{db: db} }

const reviewColumns = `id::text, book_id::text, user_id, user_name, stars, title, body, create_time, update_time, version`

func scanReview(row pgx.Row) (*rating.Review, error) {
	var r rating.ReviewRecord
	var stars int16
	if err := row.Scan(&r.ID, &r.BookID, &r.UserID, &r.UserName, &stars, &r.Title, &r.Body,
		&r.CreateTime, &r.UpdateTime, &r.Version); err != nil {
		return nil, err
	}
	r.Stars = int32(stars)
	r.CreateTime, r.UpdateTime = r.CreateTime.UTC(), r.UpdateTime.UTC()
	return rating.RestoreReview(r), nil
}

// errTable translates the driver errors of the review store: the one unique
// key a client can run into gets its own message.
var errTable = postgres.ErrorTable{
	Store: "rating",
	Constraints: map[string]func() error{
		"reviews_book_user_key": func() error {
			return failure.AlreadyExists("you have reviewed this book already; update or delete that review instead")
		},
	},
}

// CreateReview stores a new review, counts its stars and enqueues
// ReviewCreated.
func (s *Reviews) CreateReview(ctx context.Context, r *rating.Review) (*rating.Review, error) {
	rec := r.Record()
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rating.reviews (id, book_id, user_id, user_name, stars, title, body,
			create_time, update_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			rec.ID, rec.BookID, rec.UserID, rec.UserName, rec.Stars, rec.Title, rec.Body,
			rec.CreateTime, rec.UpdateTime, rec.Version); err != nil {
			return err
		}
		if err := countStars(ctx, tx, rec.BookID, 0, rec.Stars); err != nil {
			return err
		}
		return enqueue(ctx, tx, r.Events())
	})
	if err != nil {
		return nil, errTable.Translate(ctx, err, "review "+rec.ID)
	}
	return r, nil
}

// countStars moves one review of bookID from minus stars to plus stars in
// the book's star counts; 0 on either side means none (a new review, a
// removed one).
func countStars(ctx context.Context, tx pgx.Tx, bookID string, minus, plus int32) error {
	if minus == plus {
		return nil
	}
	var d [rating.MaxStars]int64
	if minus > 0 {
		d[minus-1]--
	}
	if plus > 0 {
		d[plus-1]++
	}
	if minus == 0 {
		// The book's first review makes its row. (Only here: Postgres checks
		// the row an INSERT proposes before ON CONFLICT turns it into an
		// update, so a decrement cannot go this way.)
		_, err := tx.Exec(ctx, `INSERT INTO rating.summaries AS s (book_id, stars_1, stars_2, stars_3, stars_4, stars_5)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (book_id) DO UPDATE SET
				stars_1 = s.stars_1 + excluded.stars_1, stars_2 = s.stars_2 + excluded.stars_2,
				stars_3 = s.stars_3 + excluded.stars_3, stars_4 = s.stars_4 + excluded.stars_4,
				stars_5 = s.stars_5 + excluded.stars_5`,
			bookID, d[0], d[1], d[2], d[3], d[4])
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE rating.summaries SET stars_1 = stars_1 + $2, stars_2 = stars_2 + $3,
		stars_3 = stars_3 + $4, stars_4 = stars_4 + $5, stars_5 = stars_5 + $6 WHERE book_id = $1`,
		bookID, d[0], d[1], d[2], d[3], d[4])
	if err == nil && tag.RowsAffected() != 1 {
		err = errors.New("review store: book " + bookID + " has a review but no star counts")
	}
	return err
}

// lockReview reads a review and locks its row until tx ends, so writes of
// one review take turns instead of failing.
func lockReview(ctx context.Context, tx pgx.Tx, id string) (*rating.Review, error) {
	if !coreid.Valid(id) {
		return nil, failure.NotFound("review %s not found", id)
	}
	r, err := scanReview(tx.QueryRow(ctx, `SELECT `+reviewColumns+` FROM rating.reviews WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, failure.NotFound("review %s not found", id)
	}
	return r, err
}

// UpdateReview applies update to the locked review and, when it changed
// the review, stores it, moves its stars and enqueues ReviewUpdated.
func (s *Reviews) UpdateReview(ctx context.Context, id string, update func(*rating.Review) error) (*rating.Review, error) {
	var out *rating.Review
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lockReview(ctx, tx, id)
		if err != nil {
			return err
		}
		before := r.Record()
		if err := update(r); err != nil {
			return err
		}
		out = r
		after := r.Record()
		if after.Version == before.Version {
			return nil // nothing changed
		}
		if _, err := tx.Exec(ctx, `UPDATE rating.reviews SET stars = $2, title = $3, body = $4, update_time = $5, version = $6
			WHERE id = $1`, id, after.Stars, after.Title, after.Body, after.UpdateTime, after.Version); err != nil {
			return err
		}
		if err := countStars(ctx, tx, after.BookID, before.Stars, after.Stars); err != nil {
			return err
		}
		return enqueue(ctx, tx, r.Events())
	})
	if err != nil {
		return nil, errTable.Translate(ctx, err, "review "+id)
	}
	return out, nil
}

// DeleteReview lets remove mark the locked review removed, then deletes it,
// uncounts its stars and enqueues ReviewDeleted with the bumped version.
func (s *Reviews) DeleteReview(ctx context.Context, id string, remove func(*rating.Review) error) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lockReview(ctx, tx, id)
		if err != nil {
			return err
		}
		before := r.Record()
		if err := remove(r); err != nil {
			return err
		}
		if _, gone := r.Removed(); !gone {
			return errors.New("review store: the remove closure did not remove review " + id)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rating.reviews WHERE id = $1`, id); err != nil {
			return err
		}
		if err := countStars(ctx, tx, before.BookID, before.Stars, 0); err != nil {
			return err
		}
		return enqueue(ctx, tx, r.Events())
	})
	return errTable.Translate(ctx, err, "review "+id)
}

// reviewCursor is what a ListReviews page token carries: the sort key of
// the last review of the page and a fingerprint of the query.
type reviewCursor struct {
	Query uint64 `json:"q"`
	Stars int32  `json:"s,omitempty"`
	Time  int64  `json:"t"` // create_time in Unix microseconds
	ID    string `json:"i"`
}

func (c reviewCursor) encode() string { return postgres.EncodeToken(c) }

func decodeReviewCursor(token string, query uint64) (c reviewCursor, ok bool, err error) {
	if token == "" {
		return reviewCursor{}, false, nil
	}
	if err := postgres.DecodeToken(token, &c); err != nil || c.Query != query || !coreid.Valid(c.ID) ||
		c.Stars < 0 || c.Stars > rating.MaxStars || c.Time > postgres.MaxTokenKey || c.Time < -postgres.MaxTokenKey {
		return reviewCursor{}, false, postgres.ErrPageToken
	}
	return c, true, nil
}

// reviewOrders are the ORDER BY of each order, each backed by an index, and
// the condition for the rows after a cursor.
var reviewOrders = map[rating.Order]struct {
	order string
	after func(a *postgres.Args, c reviewCursor) string
}{
	rating.OrderNewest: {
		order: `create_time DESC, id DESC`,
		after: func(a *postgres.Args, c reviewCursor) string {
			return `(create_time, id) < (` + a.Add(c.time()) + `, ` + a.Add(c.ID) + `::uuid)`
		},
	},
	rating.OrderHighest: {
		order: `stars DESC, create_time DESC, id DESC`,
		after: func(a *postgres.Args, c reviewCursor) string {
			return `(stars, create_time, id) < (` + a.Add(int16(c.Stars)) + `, ` + a.Add(c.time()) + `, ` + a.Add(c.ID) + `::uuid)`
		},
	},
	rating.OrderLowest: {
		order: `stars ASC, create_time DESC, id DESC`,
		after: func(a *postgres.Args, c reviewCursor) string {
			stars := a.Add(int16(c.Stars))
			return `(stars > ` + stars + ` OR (stars = ` + stars + ` AND (create_time, id) < (` +
				a.Add(c.time()) + `, ` + a.Add(c.ID) + `::uuid)))`
		},
	},
}

func (c reviewCursor) time() time.Time { return time.UnixMicro(c.Time).UTC() }

// ListReviews returns one page of a book's reviews in the query's order.
func (s *Reviews) ListReviews(ctx context.Context, q rating.ListReviewsQuery) (rating.ReviewPage, error) {
	o, ok := reviewOrders[q.Order]
	if !ok {
		return rating.ReviewPage{}, failure.Invalid("order_by", "unknown order")
	}
	f := postgres.NewFingerprint("reviews")
	f.Add(q.BookID, strconv.Itoa(int(q.Order)))
	query := f.Sum()
	cur, after, err := decodeReviewCursor(q.PageToken, query)
	if err != nil {
		return rating.ReviewPage{}, err
	}
	var a postgres.Args
	where := `book_id = ` + a.Add(q.BookID)
	if after {
		where += ` AND ` + o.after(&a, cur)
	}
	rows, err := s.db.Query(ctx, `SELECT `+reviewColumns+` FROM rating.reviews WHERE `+where+
		` ORDER BY `+o.order+` LIMIT `+a.Add(q.PageSize+1), a...)
	if err != nil {
		return rating.ReviewPage{}, errTable.Translate(ctx, err, "reviews")
	}
	reviews, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*rating.Review, error) { return scanReview(row) })
	if err != nil {
		return rating.ReviewPage{}, errTable.Translate(ctx, err, "reviews")
	}
	page := rating.ReviewPage{Reviews: reviews}
	if len(reviews) > q.PageSize {
		page.Reviews = reviews[:q.PageSize]
		last := page.Reviews[q.PageSize-1].Record()
		page.NextPageToken = reviewCursor{Query: query, Stars: last.Stars, Time: last.CreateTime.UnixMicro(), ID: last.ID}.encode()
	}
	return page, nil
}

// Summary returns the star counts of a book.
func (s *Reviews) Summary(ctx context.Context, bookID string) (rating.Summary, error) {
	out := rating.Summary{BookID: bookID}
	h := &out.Histogram
	err := s.db.QueryRow(ctx, `SELECT stars_1, stars_2, stars_3, stars_4, stars_5 FROM rating.summaries WHERE book_id = $1`,
		bookID).Scan(&h[0], &h[1], &h[2], &h[3], &h[4])
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return rating.Summary{}, errTable.Translate(ctx, err, "rating summary of book "+bookID)
	}
	return out, nil
}
