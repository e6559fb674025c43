package flows

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// legacyDatabase makes a database as BookWorm left it before the contexts
// had schemas of their own: everything in public, by the single migration
// history kept in testdata/legacy (the files as they were, up to 00021).
func legacyDatabase(t *testing.T) string {
	t.Helper()
	ctx := pgtest.Ctx(t)
	name := pgtest.Name()
	if err := pgtest.AdminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgtest.DropDatabase(context.Background(), name) })
	cfg, err := pgx.ParseConfig(pgtest.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("testdata/legacy"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("legacy migrations: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 21 {
		t.Fatalf("legacy database at version %d, %v; want 21", v, err)
	}
	return name
}

// Ids of the legacy rows.
const (
	oldAuthor    = "0191a000-0000-7000-8000-000000000001"
	oldCategory  = "0191a000-0000-7000-8000-000000000002"
	oldPublisher = "0191a000-0000-7000-8000-000000000003"
	oldBook      = "0191a000-0000-7000-8000-000000000004"
	oldReview    = "0191a000-0000-7000-8000-000000000005"
	oldEvent     = "0191a000-0000-7000-8000-000000000006"
)

// fillLegacy writes, with the SQL of the time, a book with its author,
// category and publisher, a review counted by the catalog, an unpublished
// event in the outbox and an applied one in the inbox.
func fillLegacy(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, pgtest.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO authors (id, name, biography, create_time, update_time, version) VALUES ($1, 'Ursula Lighthouse', 'Wrote it.', $2, $2, 1)`, []any{oldAuthor, now}},
		{`INSERT INTO categories (id, name, description, create_time, update_time, version) VALUES ($1, 'Maritime', '', $2, $2, 1)`, []any{oldCategory, now}},
		{`INSERT INTO publishers (id, name, create_time, update_time, version) VALUES ($1, 'Harbour Press', $2, $2, 1)`, []any{oldPublisher, now}},
		{`INSERT INTO books (id, title, description, isbn, currency, price_minor, stock, category_id, publisher_id,
			rating_sum, rating_count, create_time, update_time, version)
			VALUES ($1, 'The Keeper of the Northern Lamp', 'Storms.', '9780000000002', 'EUR', 1999, 3, $2, $3, 4, 1, $4, $4, 2)`,
			[]any{oldBook, oldCategory, oldPublisher, now}},
		{`INSERT INTO book_authors (book_id, position, author_id) VALUES ($1, 0, $2)`, []any{oldBook, oldAuthor}},
		{`SELECT catalog_refresh_book_search(ARRAY[$1::uuid])`, []any{oldBook}},
		{`INSERT INTO reviews (id, book_id, user_id, user_name, stars, title, body, create_time, update_time, version)
			VALUES ($1, $2, 'reader-1', 'Reader', 4, 'Bright', 'Kept me up.', $3, $3, 1)`, []any{oldReview, oldBook, now}},
		{`INSERT INTO rating_summaries (book_id, stars_4) VALUES ($1, 1)`, []any{oldBook}},
		{`INSERT INTO catalog_review_tallies (review_id, book_id, state, stars, version) VALUES ($1, $2, 1, 4, 1)`, []any{oldReview, oldBook}},
		{`INSERT INTO outbox (event_id, type, source, occur_time, data) VALUES ($1, 'bookworm.catalog.v1.BookDeleted', '/bookworm/catalog', $2, '\x0a01'::bytea)`, []any{oldEvent, now}},
		{`INSERT INTO inbox (consumer, event_id) VALUES ('catalog.ratings', $1)`, []any{oldEvent}},
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
}

// TestLegacyDatabaseUpgrades: a database at the last migration of the
// single-schema era, with books, reviews and events, migrates forward
// without losing a row, is served by the new stores, and ends in exactly
// the schema a fresh database gets.
func TestLegacyDatabaseUpgrades(t *testing.T) {
	ctx := pgtest.Ctx(t)
	name := legacyDatabase(t)
	fillLegacy(t, ctx, name)

	pool, err := postgres.Connect(ctx, pgtest.URL(name), pgtest.DiscardLog(),
		catalogstore.Migrations, ratingstore.Migrations, notificationstore.Migrations, outbox.Migrations)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer pool.Close()

	// The catalog serves the book, its names, its rating, and finds it.
	books := catalogstore.NewBooks(pool)
	got, err := books.GetBooks(ctx, []string{oldBook})
	if err != nil || len(got) != 1 {
		t.Fatalf("GetBooks = %v, %v", got, err)
	}
	r := got[0].Record()
	if r.Title != "The Keeper of the Northern Lamp" || r.CategoryName != "Maritime" || r.PublisherName != "Harbour Press" ||
		!slices.Equal(r.AuthorNames, []string{"Ursula Lighthouse"}) || r.RatingSum != 4 || r.RatingCount != 1 || r.Price.Minor() != 1999 {
		t.Fatalf("book after the upgrade: %+v", r)
	}
	for _, q := range []string{"northern lamp", "lighthuose"} { // exact, and with a typo (the lexicon)
		page, err := books.SearchBooks(ctx, catalog.SearchBooksQuery{Query: q, PageSize: 5})
		if err != nil || len(page.Hits) != 1 || page.Hits[0].Book.ID() != oldBook {
			t.Fatalf("search %q after the upgrade: %+v, %v", q, page, err)
		}
	}
	ents, err := catalogstore.NewEntities(pool).ListEntities(ctx, catalog.AuthorKind, 10, "")
	if err != nil || len(ents.Entities) != 1 {
		t.Fatalf("authors after the upgrade: %+v, %v", ents, err)
	}

	// The rating context serves the review and its summary.
	reviews := ratingstore.NewReviews(pool)
	page, err := reviews.ListReviews(ctx, rating.ListReviewsQuery{BookID: oldBook, PageSize: 10})
	if err != nil || len(page.Reviews) != 1 || page.Reviews[0].ID() != oldReview {
		t.Fatalf("reviews after the upgrade: %+v, %v", page, err)
	}
	if s, err := reviews.Summary(ctx, oldBook); err != nil || s.Count() != 1 || s.Sum() != 4 {
		t.Fatalf("summary after the upgrade: %+v, %v", s, err)
	}

	// The catalog still knows what it counted: a later update of the old
	// review moves the book's sum by the difference only.
	upd := events.Message{ID: "0191a000-0000-7000-8000-000000000007", Type: events.TypeOf(&ratingv1.ReviewUpdated{}),
		Source: ratingstore.RatingSource, ContentType: events.ContentTypeProtobuf}
	upd.Data = mustMarshal(t, &ratingv1.ReviewUpdated{ReviewId: oldReview, BookId: oldBook, UserId: "reader-1", Version: 2, OldStars: 4, NewStars: 2})
	if err := catalogstore.NewCatalogRatings(pool, nil).Handle(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := books.GetBooks(ctx, []string{oldBook}); got[0].Record().RatingSum != 2 || got[0].Record().RatingCount != 1 {
		t.Fatalf("rating after an update of the old review: %+v", got[0].Record())
	}

	// The pending event is still pending, the applied one still applied.
	relay := outbox.NewRelay(pool, &countingPublisher{}, outbox.RelayConfig{Logger: pgtest.DiscardLog()})
	if n, _, err := relay.Backlog(ctx); err != nil || n < 1 {
		t.Fatalf("backlog after the upgrade %d, %v", n, err)
	}
	applied, err := outbox.HandleOnce(ctx, pool, "catalog.ratings", oldEvent, func(context.Context, pgx.Tx) error { return nil })
	if err != nil || applied {
		t.Fatalf("an event applied before the upgrade was applied again (%v, %v)", applied, err)
	}
	// New rows take numbers after the old ones.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Enqueue(ctx, tx, "test", &ratingv1.ReviewRejected{ReviewId: oldReview}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rows := pgtest.Outbox(t, pool)
	if len(rows) != 2 || rows[0].ID != oldEvent || rows[1].Seq <= rows[0].Seq {
		t.Fatalf("outbox after the upgrade: %+v", rows)
	}
	// The pending event took the deployment's ce-source, so that this
	// deployment's consumers do not drop it as foreign.
	deployment, err := outbox.Deployment(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if dep, _, ok := events.ParseSource(r.Source); !ok || dep != deployment {
			t.Fatalf("event %s has source %q after the upgrade; want one of deployment %s", r.ID, r.Source, deployment)
		}
	}

	// Upgraded and fresh end alike; nothing is left in public.
	fresh := pgtest.OpenPool(t, pgtest.NewDatabase(t))
	want, have := schemaOf(t, fresh), schemaOf(t, pool)
	for _, l := range []string{"table catalog.books", "table rating.reviews", "table events.outbox", "table catalog.goose_db_version",
		"function catalog.refresh_book_search(book_ids uuid[])", "sequence events.outbox_seq_seq"} {
		if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, l) }) {
			t.Fatalf("the fresh schema has no %q: %q", l, want)
		}
	}
	if d := diffLines(want, have); d != "" {
		t.Fatalf("the upgraded schema differs from a fresh one (- fresh, + upgraded):\n%s", d)
	}
	// And migrating again changes nothing.
	again, err := postgres.Connect(ctx, pgtest.URL(name), pgtest.DiscardLog(),
		catalogstore.Migrations, ratingstore.Migrations, notificationstore.Migrations, outbox.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if d := diffLines(have, schemaOf(t, pool)); d != "" {
		t.Fatalf("migrating again changed the schema:\n%s", d)
	}
}

// schemaOf describes every table, column, index, constraint, sequence and
// function of the database outside the system schemas, one line each,
// sorted.
func schemaOf(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	const q = `
	SELECT 'table ' || schemaname || '.' || tablename FROM pg_tables
	 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
	UNION ALL
	SELECT format('column %s.%s.%s %s null=%s default=%s generated=%s identity=%s', table_schema, table_name, column_name,
	              data_type, is_nullable, coalesce(column_default, ''), coalesce(generation_expression, ''), is_identity)
	  FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
	UNION ALL
	SELECT 'index ' || schemaname || ' ' || indexdef FROM pg_indexes
	 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
	UNION ALL
	SELECT format('constraint %s.%s %s %s', n.nspname, c.conname, c.conrelid::regclass, pg_get_constraintdef(c.oid))
	  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
	 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
	UNION ALL
	SELECT 'sequence ' || schemaname || '.' || sequencename FROM pg_sequences
	UNION ALL
	SELECT format('function %s.%s(%s) %s', n.nspname, p.proname, pg_get_function_arguments(p.oid), md5(p.prosrc))
	  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
	   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
	UNION ALL
	SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
	UNION ALL
	SELECT 'extension ' || extname || ' in ' || extnamespace::regnamespace FROM pg_extension`
	rows, err := pool.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	for _, l := range lines {
		if strings.HasPrefix(l, "table public.") {
			t.Errorf("a table is left in public: %s", l)
		}
	}
	return lines
}

// diffLines lists the lines only in want (-) and only in have (+).
func diffLines(want, have []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(have, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range have {
		if !slices.Contains(want, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
