package catalogstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Books is catalog.Books on PostgreSQL.
type Books struct {
	pool *pgxpool.Pool
	// embeddings remembers whether books have embeddings (semantic.go).
	embeddings sync.Map
	// window is the lexical search window, searchWindow when 0 (tests
	// make it small).
	window int
}

var _ catalog.Books = (*Books)(nil)

// NewBooks returns the book store of pool.
func NewBooks(pool *pgxpool.Pool) *Books { return &Books{pool: pool} }

// bookRowColumns are the books columns a read needs (not the search
// columns, which are large and never read back).
const bookRowColumns = `b.id, b.title, b.description, b.isbn, b.currency, b.price_minor, b.sale_minor,
	b.effective_minor, b.stock, b.category_id, b.publisher_id, b.image_url, b.rating_sum, b.rating_count,
	b.rating_avg, b.create_time, b.update_time, b.delete_time, b.version`

// bookColumns read a whole BookRecord, names included, from rows b of
// books (or of a subquery with bookRowColumns); bookJoins resolves the
// names. Authors come as two arrays in credit order.
const (
	bookColumns = `b.id::text, b.title, b.description, coalesce(b.isbn, ''), b.currency, b.price_minor,
	b.sale_minor, b.stock, coalesce(b.category_id::text, ''), coalesce(b.publisher_id::text, ''), b.image_url,
	b.rating_sum, b.rating_count, b.create_time, b.update_time, b.delete_time, b.version,
	coalesce(c.name, ''), coalesce(p.name, ''), coalesce(au.ids, '{}'), coalesce(au.names, '{}')`
	bookJoins = `
	LEFT JOIN catalog.categories c ON c.id = b.category_id
	LEFT JOIN catalog.publishers p ON p.id = b.publisher_id
	LEFT JOIN LATERAL (
		SELECT array_agg(ba.author_id::text ORDER BY ba.position) AS ids,
		       array_agg(a.name ORDER BY ba.position) AS names
		  FROM catalog.book_authors ba JOIN catalog.authors a ON a.id = ba.author_id
		 WHERE ba.book_id = b.id
	) au ON true`
	bookSelect = `SELECT ` + bookColumns
)

// scanBook reads one row of bookColumns, then extra columns into extra.
func scanBook(row pgx.Row, extra ...any) (*catalog.Book, error) {
	var (
		r          catalog.BookRecord
		currency   string
		price      int64
		sale       *int64
		deleteTime *time.Time
	)
	dest := []any{&r.ID, &r.Title, &r.Description, &r.ISBN, &currency, &price,
		&sale, &r.StockQuantity, &r.CategoryID, &r.PublisherID, &r.ImageURL,
		&r.RatingSum, &r.RatingCount, &r.CreateTime, &r.UpdateTime, &deleteTime, &r.Version,
		&r.CategoryName, &r.PublisherName, &r.AuthorIDs, &r.AuthorNames}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	var err error
	if r.Price, err = money.New(currency, price); err != nil {
		return nil, err
	}
	if sale != nil {
		if r.SalePrice, err = money.New(currency, *sale); err != nil {
			return nil, err
		}
	}
	r.CreateTime, r.UpdateTime = r.CreateTime.UTC(), r.UpdateTime.UTC()
	if deleteTime != nil {
		t := deleteTime.UTC()
		r.DeleteTime = &t
	}
	return catalog.RestoreBook(r), nil
}

func getBook(ctx context.Context, q postgres.Querier, id string) (*catalog.Book, error) {
	return scanBook(q.QueryRow(ctx, bookSelect+` FROM catalog.books b`+bookJoins+` WHERE b.id = $1`, id))
}

// GetBooks returns the books with the given ids, deleted ones included.
func (s *Books) GetBooks(ctx context.Context, ids []string) ([]*catalog.Book, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if coreid.Valid(id) { // anything else names no book
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, bookSelect+` FROM catalog.books b`+bookJoins+` WHERE b.id = ANY ($1::uuid[])`, valid)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "books")
	}
	books, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*catalog.Book, error) { return scanBook(row) })
	return books, errTable.Translate(ctx, err, "books")
}

func nullISBN(isbn string) *string {
	if isbn == "" {
		return nil
	}
	return &isbn
}

func nullSale(m money.Money) *int64 {
	if m.IsZero() {
		return nil
	}
	v := m.Minor()
	return &v
}

// CreateBook stores a new book with its authors and search document.
func (s *Books) CreateBook(ctx context.Context, b *catalog.Book) (*catalog.Book, error) {
	r := b.Record()
	var out *catalog.Book
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO catalog.books (id, title, description, isbn, currency, price_minor, sale_minor,
			stock, category_id, publisher_id, image_url, rating_sum, rating_count, create_time, update_time, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			r.ID, r.Title, r.Description, nullISBN(r.ISBN), r.Price.Currency(), r.Price.Minor(), nullSale(r.SalePrice),
			r.StockQuantity, r.CategoryID, r.PublisherID, r.ImageURL, r.RatingSum, r.RatingCount,
			r.CreateTime, r.UpdateTime, r.Version)
		if err != nil {
			return err
		}
		if err := setAuthors(ctx, tx, r.ID, r.AuthorIDs, false); err != nil {
			return err
		}
		if out, err = finishBookWrite(ctx, tx, r.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, b.Events())
	})
	if err != nil {
		return nil, errTable.Translate(ctx, err, "book "+r.ID)
	}
	return out, nil
}

// enqueue writes the messages of evs to the outbox in tx.
func enqueue(ctx context.Context, tx pgx.Tx, evs []catalog.Event) error {
	msgs, err := eventMessages(evs)
	if err != nil {
		return err
	}
	return outbox.Enqueue(ctx, tx, CatalogSource, msgs...)
}

// setAuthors writes the credit list of a book, replacing the old one.
func setAuthors(ctx context.Context, tx pgx.Tx, bookID string, authorIDs []string, replace bool) error {
	if replace {
		if _, err := tx.Exec(ctx, `DELETE FROM catalog.book_authors WHERE book_id = $1`, bookID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO catalog.book_authors (book_id, position, author_id)
		SELECT $1, a.ord - 1, a.id FROM unnest($2::uuid[]) WITH ORDINALITY AS a (id, ord)`, bookID, authorIDs)
	return err
}

// finishBookWrite ends every write of a book: it refreshes the search
// document, tells the caches and reads the book back with its names.
func finishBookWrite(ctx context.Context, tx pgx.Tx, id string) (*catalog.Book, error) {
	if _, err := tx.Exec(ctx, `SELECT catalog.refresh_book_search(ARRAY[$1::uuid])`, id); err != nil {
		return nil, err
	}
	if err := NotifyBookChanged(ctx, tx, id); err != nil {
		return nil, err
	}
	return getBook(ctx, tx, id)
}

// UpdateBook reads the book, applies update and writes the result only if
// the row still has the version it was read at: the write of a concurrent
// update that committed first makes this one fail with failure.ErrConflict
// rather than be lost. The stock is written as the change the update made
// to it (a restock of n adds n): the checkout saga moves copies between
// available, reserved and sold without a new version, and a title edit
// must not undo a reservation committed meanwhile.
func (s *Books) UpdateBook(ctx context.Context, id string, update func(*catalog.Book) error) (*catalog.Book, error) {
	var out *catalog.Book
	var updateErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b, err := getBook(ctx, tx, id)
		if err != nil {
			return err
		}
		before := b.Record()
		if updateErr = update(b); updateErr != nil {
			return updateErr
		}
		r := b.Record()
		if r.Version == before.Version { // update changed nothing
			out = b
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE catalog.books SET title = $3, description = $4, isbn = $5, currency = $6,
			price_minor = $7, sale_minor = $8, stock = stock + ($9 - $15::integer), category_id = $10, publisher_id = $11,
			image_url = $12, update_time = $13, version = $14
			WHERE id = $1 AND version = $2`,
			id, before.Version, r.Title, r.Description, nullISBN(r.ISBN), r.Price.Currency(), r.Price.Minor(),
			nullSale(r.SalePrice), r.StockQuantity, r.CategoryID, r.PublisherID, r.ImageURL, r.UpdateTime, r.Version,
			before.StockQuantity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return failure.Conflict("book %s was changed concurrently; read it again and retry", id)
		}
		if !slices.Equal(before.AuthorIDs, r.AuthorIDs) {
			if err := setAuthors(ctx, tx, id, r.AuthorIDs, true); err != nil {
				return err
			}
		}
		if out, err = finishBookWrite(ctx, tx, id); err != nil {
			return err
		}
		return enqueue(ctx, tx, b.Events())
	})
	switch {
	case updateErr != nil:
		return nil, updateErr // as the closure returned it
	case err != nil:
		return nil, errTable.Translate(ctx, err, "book "+id)
	}
	return out, nil
}

// DeleteBook marks a live book deleted: it leaves lists and search, and
// stays readable by id.
func (s *Books) DeleteBook(ctx context.Context, id string, now time.Time) error {
	if !coreid.Valid(id) {
		return failure.NotFound("book %s not found", id)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			title   string
			version int64
		)
		err := tx.QueryRow(ctx, `UPDATE catalog.books SET delete_time = $2, update_time = $2, version = version + 1
			WHERE id = $1 AND delete_time IS NULL RETURNING title, version`, id, now.UTC()).Scan(&title, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return failure.NotFound("book %s not found", id)
		}
		if err != nil {
			return err
		}
		if err := NotifyBookChanged(ctx, tx, id); err != nil {
			return err
		}
		return enqueue(ctx, tx, []catalog.Event{catalog.BookDeleted{BookID: id, Title: title, Version: version, At: now.UTC()}})
	})
	return errTable.Translate(ctx, err, "book "+id)
}

// filterSQL returns the conditions of f on books b.
func filterSQL(f catalog.BookFilter, a *postgres.Args) []string {
	where := []string{"b.delete_time IS NULL"}
	if len(f.CategoryIDs) > 0 {
		where = append(where, "b.category_id = ANY ("+a.Add(f.CategoryIDs)+"::uuid[])")
	}
	if len(f.PublisherIDs) > 0 {
		where = append(where, "b.publisher_id = ANY ("+a.Add(f.PublisherIDs)+"::uuid[])")
	}
	if len(f.AuthorIDs) > 0 {
		where = append(where, "EXISTS (SELECT 1 FROM catalog.book_authors fa WHERE fa.book_id = b.id AND fa.author_id = ANY ("+
			a.Add(f.AuthorIDs)+"::uuid[]))")
	}
	if c := f.Currency(); c != "" {
		where = append(where, "b.currency = "+a.Add(c))
	}
	if !f.MinPrice.IsZero() {
		where = append(where, "b.effective_minor >= "+a.Add(f.MinPrice.Minor()))
	}
	if !f.MaxPrice.IsZero() {
		where = append(where, "b.effective_minor <= "+a.Add(f.MaxPrice.Minor()))
	}
	if f.InStockOnly {
		where = append(where, "b.stock > 0")
	}
	return where
}

// orderKeys are the sort key of each ListBooks order, each backed by an
// index on (key, id) over live books.
var orderKeys = map[catalog.BookOrder]string{
	catalog.OrderTitle:      "b.title",
	catalog.OrderPrice:      "b.effective_minor",
	catalog.OrderCreateTime: "b.create_time",
	catalog.OrderRating:     "b.rating_avg",
}

// ListBooks returns one page of live books in the query's order, ties
// broken by id in the same direction.
func (s *Books) ListBooks(ctx context.Context, q catalog.ListBooksQuery) (catalog.BookPage, error) {
	key, ok := orderKeys[q.Order]
	if !ok {
		return catalog.BookPage{}, failure.Invalid("order_by", "unknown order")
	}
	query := listFingerprint(q).Sum()
	cur, after, err := decodeCursor(q.PageToken, query)
	if err != nil {
		return catalog.BookPage{}, err
	}

	var a postgres.Args
	where := filterSQL(q.Filter, &a)
	dir, cmp := "ASC", ">"
	if q.Descending {
		dir, cmp = "DESC", "<"
	}
	if after {
		var k any
		switch q.Order {
		case catalog.OrderTitle:
			k = cur.Text
		case catalog.OrderPrice:
			k = cur.Int
		case catalog.OrderCreateTime:
			k = time.UnixMicro(cur.Int).UTC()
		case catalog.OrderRating:
			k = cur.Float
		}
		where = append(where, "("+key+", b.id) "+cmp+" ("+a.Add(k)+", "+a.Add(cur.ID)+"::uuid)")
	}
	order := key + " " + dir + ", b.id " + dir
	sql := `SELECT ` + bookColumns + `, ` + key + `
		FROM (SELECT ` + bookRowColumns + ` FROM catalog.books b WHERE ` + strings.Join(where, " AND ") + `
		      ORDER BY ` + order + ` LIMIT ` + a.Add(q.PageSize+1) + `) b` + bookJoins + `
		ORDER BY ` + order

	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return catalog.BookPage{}, errTable.Translate(ctx, err, "books")
	}
	defer rows.Close()
	var (
		page catalog.BookPage
		last cursor
	)
	for rows.Next() {
		if len(page.Books) == q.PageSize {
			page.NextPageToken = last.encode()
			break
		}
		last = cursor{Query: query}
		var dest any
		var t time.Time
		switch q.Order {
		case catalog.OrderTitle:
			dest = &last.Text
		case catalog.OrderPrice:
			dest = &last.Int
		case catalog.OrderCreateTime:
			dest = &t
		case catalog.OrderRating:
			dest = &last.Float
		}
		b, err := scanBook(rows, dest)
		if err != nil {
			return catalog.BookPage{}, errTable.Translate(ctx, err, "books")
		}
		if q.Order == catalog.OrderCreateTime {
			last.Int = t.UnixMicro()
		}
		last.ID = b.ID()
		page.Books = append(page.Books, b)
	}
	if err := rows.Err(); err != nil {
		return catalog.BookPage{}, errTable.Translate(ctx, err, "books")
	}
	return page, nil
}
