package catalogstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

// SeedResult counts the rows Seed added.
type SeedResult struct {
	Categories int `json:"categories"`
	Publishers int `json:"publishers"`
	Authors    int `json:"authors"`
	Books      int `json:"books"`
}

// seedLockID serialises concurrent seeds (replicas started with --seed).
const seedLockID int64 = 0x626f6f6b_73656564 // "bookseed"

// Seed loads DemoCatalog(books) in one transaction. Demo ids are
// fixed, so rows that exist are skipped (ON CONFLICT DO NOTHING): a second
// run adds nothing and a bigger run adds only what the smaller one lacked.
// A category or publisher whose name someone already took is reused rather
// than duplicated, and a demo book whose ISBN a live book has is skipped.
func Seed(ctx context.Context, pool *pgxpool.Pool, books int) (SeedResult, error) {
	d := DemoCatalog(books)
	var res SeedResult
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, seedLockID); err != nil {
			return err
		}
		var err error
		if res.Categories, err = seedEntities(ctx, tx, entityTables[catalog.CategoryKind.Name], d.Categories); err != nil {
			return err
		}
		if res.Publishers, err = seedEntities(ctx, tx, entityTables[catalog.PublisherKind.Name], d.Publishers); err != nil {
			return err
		}
		if res.Authors, err = seedEntities(ctx, tx, entityTables[catalog.AuthorKind.Name], d.Authors); err != nil {
			return err
		}
		categories, err := idsByName(ctx, tx, "catalog.categories", d.Categories)
		if err != nil {
			return err
		}
		publishers, err := idsByName(ctx, tx, "catalog.publishers", d.Publishers)
		if err != nil {
			return err
		}
		if res.Books, err = seedBooks(ctx, tx, d.Books, categories, publishers); err != nil {
			return err
		}
		if res.Books > 0 {
			return NotifyBookChanged(ctx, tx, AllBooks)
		}
		return nil
	})
	if err != nil {
		return SeedResult{}, fmt.Errorf("seed demo catalog: %w", errTable.Translate(ctx, err, "demo catalog"))
	}
	return res, nil
}

func seedEntities(ctx context.Context, tx pgx.Tx, t entityTable, list []*catalog.Entity) (int, error) {
	n := len(list)
	ids, names, texts := make([]string, n), make([]string, n), make([]string, n)
	creates, updates, versions := make([]time.Time, n), make([]time.Time, n), make([]int64, n)
	for i, e := range list {
		r := e.Record()
		ids[i], names[i], texts[i] = r.ID, r.Name, r.Text
		creates[i], updates[i], versions[i] = r.CreateTime, r.UpdateTime, r.Version
	}
	cols, vals := "id, name, create_time, update_time, version", "u.id, u.name, u.ct, u.ut, u.v"
	if t.text != "" {
		cols, vals = cols+", "+t.text, vals+", u.text"
	}
	tag, err := tx.Exec(ctx, `INSERT INTO `+t.table+` (`+cols+`)
		SELECT `+vals+` FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::bigint[])
		    AS u (id, name, text, ct, ut, v)
		ON CONFLICT DO NOTHING`, ids, names, texts, creates, updates, versions)
	return int(tag.RowsAffected()), err
}

// idsByName maps the demo id of each entity to the id of the row that has
// its name, which differs when the name was taken before the seed.
func idsByName(ctx context.Context, tx pgx.Tx, table string, list []*catalog.Entity) (map[string]string, error) {
	demoID := make(map[string]string, len(list))
	names := make([]string, 0, len(list))
	for _, e := range list {
		r := e.Record()
		demoID[strings.ToLower(r.Name)] = r.ID
		names = append(names, strings.ToLower(r.Name))
	}
	rows, err := tx.Query(ctx, `SELECT id::text, lower(name) FROM `+table+` WHERE lower(name) = ANY ($1)`, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	var id, name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		out[demoID[name]] = id
		return nil
	})
	return out, err
}

func seedBooks(ctx context.Context, tx pgx.Tx, books []*catalog.Book, categories, publishers map[string]string) (int, error) {
	n := len(books)
	var (
		ids, titles, descriptions, currencies = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		isbns                                 = make([]*string, n)
		prices                                = make([]int64, n)
		sales                                 = make([]*int64, n)
		stocks                                = make([]int32, n)
		categoryIDs, publisherIDs, images     = make([]string, n), make([]string, n), make([]string, n)
		creates, updates                      = make([]time.Time, n), make([]time.Time, n)
		versions                              = make([]int64, n)
		authorOf                              = make(map[string][]string, n)
	)
	for i, b := range books {
		r := b.Record()
		ids[i], titles[i], descriptions[i], currencies[i] = r.ID, r.Title, r.Description, r.Price.Currency()
		isbns[i], prices[i], sales[i], stocks[i] = nullISBN(r.ISBN), r.Price.Minor(), nullSale(r.SalePrice), r.StockQuantity
		categoryIDs[i], publisherIDs[i], images[i] = categories[r.CategoryID], publishers[r.PublisherID], r.ImageURL
		creates[i], updates[i], versions[i] = r.CreateTime, r.UpdateTime, r.Version
		authorOf[r.ID] = r.AuthorIDs
	}
	rows, err := tx.Query(ctx, `INSERT INTO catalog.books (id, title, description, isbn, currency, price_minor, sale_minor,
			stock, category_id, publisher_id, image_url, create_time, update_time, version)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
			$8::int[], $9::uuid[], $10::uuid[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::bigint[])
		ON CONFLICT DO NOTHING
		RETURNING id::text`,
		ids, titles, descriptions, isbns, currencies, prices, sales, stocks, categoryIDs, publisherIDs, images,
		creates, updates, versions)
	if err != nil {
		return 0, err
	}
	added, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(added) == 0 {
		return 0, err
	}
	var bookIDs, authorIDs []string
	var positions []int16
	for _, id := range added {
		for pos, a := range authorOf[id] {
			bookIDs, positions, authorIDs = append(bookIDs, id), append(positions, int16(pos)), append(authorIDs, a)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO catalog.book_authors (book_id, position, author_id)
		SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::uuid[])`, bookIDs, positions, authorIDs); err != nil {
		return 0, err
	}
	// Fresh statistics, or the planner takes the thousands of new rows for
	// a handful and the refresh below joins them slowly.
	if _, err := tx.Exec(ctx, `ANALYZE catalog.books, catalog.book_authors, catalog.authors, catalog.categories, catalog.publishers`); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `SELECT catalog.refresh_book_search($1::uuid[])`, added); err != nil {
		return 0, err
	}
	// Merge the thousands of new search index entries now rather than have
	// every search scan them (see the migration).
	if _, err := tx.Exec(ctx, `SELECT gin_clean_pending_list('catalog.books_search_idx'::regclass),
		gin_clean_pending_list('catalog.books_search_text_idx'::regclass)`); err != nil {
		return 0, err
	}
	// And statistics of the search documents just written: searches are
	// planned by how common their words are (see searchWindow).
	if _, err := tx.Exec(ctx, `ANALYZE catalog.books`); err != nil {
		return 0, err
	}
	return len(added), nil
}
