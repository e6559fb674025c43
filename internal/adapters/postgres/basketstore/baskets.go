package basketstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Baskets is basket.Store on PostgreSQL. A change is optimistic: the
// basket is read without a lock, the core's closure runs, and the write
// succeeds only if the basket's version is still the one read, in the same
// transaction as its lines and the events it raised (outbox); otherwise
// failure.ErrConflict and nothing is written. A customer's basket sees few
// concurrent changes, so a lost race is rare and cheap to retry, and no
// row lock is held while the closure runs.
type Baskets struct {
	db postgres.DB
}

var _ basket.Store = (*Baskets)(nil)

// NewBaskets returns the basket store of db: a pool, or a transaction whose
// commit the store's writes then join (as the order consumer's inbox
// transaction).
func NewBaskets(db postgres.DB) *Baskets { return &Baskets{db: db} }

// errTable translates the driver errors of the basket store. A second
// basket for one customer, or a second line of a book, would mean two
// writers raced past the version check: the client may read again and
// retry.
var errTable = postgres.ErrorTable{
	Store: "basket",
	Constraints: map[string]func() error{
		"baskets_pkey":         conflict,
		"lines_pkey":           conflict,
		"lines_owner_book_key": conflict,
	},
}

func conflict() error {
	return failure.Conflict("the basket was changed concurrently; read it again and retry")
}

// loadSQL reads a basket with its lines in their order, in one round trip.
const loadSQL = `SELECT currency, version, update_time, recent_keys,
	ARRAY(SELECT book_id::text FROM basket.lines l WHERE l.owner = b.owner ORDER BY position),
	ARRAY(SELECT quantity FROM basket.lines l WHERE l.owner = b.owner ORDER BY position),
	ARRAY(SELECT add_time FROM basket.lines l WHERE l.owner = b.owner ORDER BY position)
	FROM basket.baskets b WHERE owner = $1`

func load(ctx context.Context, q postgres.Querier, owner string) (*basket.Basket, error) {
	var (
		currency   string
		version    int64
		updated    time.Time
		recentKeys []string
		books      []string
		quantities []int16
		added      []time.Time
	)
	err := q.QueryRow(ctx, loadSQL, owner).Scan(&currency, &version, &updated, &recentKeys, &books, &quantities, &added)
	if errors.Is(err, pgx.ErrNoRows) {
		return basket.New(owner)
	}
	if err != nil {
		return nil, err
	}
	if len(quantities) != len(books) || len(added) != len(books) {
		return nil, errors.New("basket store: the lines changed while read")
	}
	lines := make([]basket.Line, len(books))
	for i := range books {
		lines[i] = basket.NewLine(books[i], int(quantities[i]), added[i])
	}
	return basket.Load(owner, currency, lines, version, updated, recentKeys)
}

// Get returns owner's basket, or the empty basket of a customer who never
// had one.
func (s *Baskets) Get(ctx context.Context, owner string) (*basket.Basket, error) {
	b, err := load(ctx, s.db, owner)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "basket")
	}
	return b, nil
}

// Update loads owner's basket, applies update and, when it changed the
// basket, writes it (if its version is still the one read), its lines and
// the events update raised, in one transaction.
func (s *Baskets) Update(ctx context.Context, owner string, update func(*basket.Basket) ([]basket.Cleared, error)) (*basket.Basket, error) {
	var out *basket.Basket
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		b, err := load(ctx, tx, owner)
		if err != nil {
			return err
		}
		before := b.Version()
		evs, err := update(b)
		if err != nil {
			return err
		}
		out = b
		if b.Version() == before {
			return nil // nothing changed
		}
		if err := save(ctx, tx, b, before); err != nil {
			return err
		}
		return enqueue(ctx, tx, evs)
	})
	if err != nil {
		return nil, errTable.Translate(ctx, err, "basket")
	}
	return out, nil
}

// save writes b, read at version before, and its lines. A basket whose
// version moved since (or, new, that someone else created meanwhile) is a
// conflict.
func save(ctx context.Context, tx pgx.Tx, b *basket.Basket, before int64) error {
	keys := b.RecentKeys()
	if keys == nil {
		keys = []string{}
	}
	var sql string
	if before == 0 {
		sql = `INSERT INTO basket.baskets (owner, currency, version, update_time, recent_keys)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner) DO NOTHING`
	} else {
		sql = `UPDATE basket.baskets SET currency = $2, version = $3, update_time = $4, recent_keys = $5
			WHERE owner = $1 AND version = $6`
	}
	args := []any{b.Owner(), b.Currency(), b.Version(), b.UpdatedAt(), keys}
	if before != 0 {
		args = append(args, before)
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return conflict()
	}
	lines := b.Lines()
	books := make([]string, len(lines))
	quantities := make([]int16, len(lines))
	added := make([]time.Time, len(lines))
	for i, l := range lines {
		books[i], quantities[i], added[i] = l.BookID(), int16(l.Quantity()), l.AddedAt()
	}
	// The lines are few (at most 100): writing them all again is simpler
	// than a diff and as quick.
	if _, err := tx.Exec(ctx, `DELETE FROM basket.lines WHERE owner = $1`, b.Owner()); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO basket.lines (owner, position, book_id, quantity, add_time)
		SELECT $1, l.ord - 1, l.book_id, l.quantity, l.add_time
		  FROM unnest($2::uuid[], $3::smallint[], $4::timestamptz[]) WITH ORDINALITY AS l (book_id, quantity, add_time, ord)`,
		b.Owner(), books, quantities, added)
	return err
}
