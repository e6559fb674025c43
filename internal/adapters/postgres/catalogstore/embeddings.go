package catalogstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// Embeddings is catalog.EmbeddingStore on PostgreSQL with pgvector
// (catalog.book_embeddings, migration 00050). On a server without the
// vector extension Ready reports false and the catalog's semantic features
// stay off.
type Embeddings struct {
	pool    *pgxpool.Pool
	indexed sync.Map // dimension → true once its HNSW index exists
}

var _ catalog.EmbeddingStore = (*Embeddings)(nil)

// NewEmbeddings returns the embedding store of pool.
func NewEmbeddings(pool *pgxpool.Pool) *Embeddings { return &Embeddings{pool: pool} }

// Ready reports whether embeddings can be stored: the table exists, or the
// vector extension has become available since the migrations ran, in which
// case it runs migration 00050's statement again to create it.
func (s *Embeddings) Ready(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('catalog.book_embeddings') IS NOT NULL`).Scan(&ok); err != nil || ok {
		return ok, errTable.Translate(ctx, err, "embeddings")
	}
	ddl, err := embeddingsDDL()
	if err != nil {
		return false, err
	}
	if _, err := s.pool.Exec(ctx, ddl); err != nil {
		return false, errTable.Translate(ctx, err, "embeddings")
	}
	err = s.pool.QueryRow(ctx, `SELECT to_regclass('catalog.book_embeddings') IS NOT NULL`).Scan(&ok)
	return ok, errTable.Translate(ctx, err, "embeddings")
}

// embeddingsDDL is the Up statement of migration 00050, idempotent.
func embeddingsDDL() (string, error) {
	b, err := fs.ReadFile(Migrations.FS, "00050_embeddings.sql")
	if err != nil {
		return "", err
	}
	_, rest, ok1 := strings.Cut(string(b), "-- +goose StatementBegin\n")
	stmt, _, ok2 := strings.Cut(rest, "-- +goose StatementEnd")
	if !ok1 || !ok2 {
		return "", fmt.Errorf("migration 00050 lost its statement markers")
	}
	return stmt, nil
}

// vectorLiteral is v in pgvector's text form.
func vectorLiteral(v []float32) string {
	var b strings.Builder
	b.Grow(len(v) * 10)
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
	}
	b.WriteByte(']')
	return b.String()
}

// pendingSQL selects the live books whose embedding is missing, of another
// model ($1), or older than a known change of the text.
const pendingSQL = ` FROM catalog.books b
	LEFT JOIN catalog.book_embeddings e ON e.book_id = b.id
	WHERE b.delete_time IS NULL
	  AND (e.book_id IS NULL OR e.model <> $1 OR e.stale_version > e.book_version)`

// PendingEmbeddings implements catalog.EmbeddingStore.
func (s *Embeddings) PendingEmbeddings(ctx context.Context, model, after string, limit int) ([]catalog.BookRecord, error) {
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.pool.Query(ctx, bookSelect+` FROM (SELECT b.*`+pendingSQL+` AND b.id > $2 ORDER BY b.id LIMIT $3) b`+bookJoins+` ORDER BY b.id`,
		model, after, limit)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "embeddings")
	}
	books, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*catalog.Book, error) { return scanBook(row) })
	if err != nil {
		return nil, errTable.Translate(ctx, err, "embeddings")
	}
	out := make([]catalog.BookRecord, len(books))
	for i, b := range books {
		out[i] = b.Record()
	}
	return out, nil
}

// CountPendingEmbeddings implements catalog.EmbeddingStore.
func (s *Embeddings) CountPendingEmbeddings(ctx context.Context, model string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*)`+pendingSQL, model).Scan(&n)
	return n, errTable.Translate(ctx, err, "embeddings")
}

// PutEmbeddings implements catalog.EmbeddingStore. The first vectors of a
// dimension create its HNSW index (cosine distance) over the rows of that
// dimension.
func (s *Embeddings) PutEmbeddings(ctx context.Context, model string, items []catalog.BookEmbedding) error {
	if len(items) == 0 {
		return nil
	}
	dim := len(items[0].Vector)
	for _, it := range items {
		if len(it.Vector) != dim || dim == 0 {
			return fmt.Errorf("embeddings: vectors of unequal or zero dimension")
		}
	}
	if err := s.ensureIndex(ctx, dim); err != nil {
		return err
	}
	// In one transaction with a notification per book: the book caches
	// drop the search pages the new vectors may change. A vector made from
	// a text the book no longer has (changed while it was embedded) is
	// skipped: the book stays pending.
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.BookID
	}
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		current, err := currentTextHashes(ctx, tx, ids)
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for _, it := range items {
			if current[it.BookID] != it.TextHash {
				continue
			}
			batch.Queue(`SELECT pg_notify($1, $2)`, CatalogChannel, it.BookID)
			batch.Queue(`INSERT INTO catalog.book_embeddings AS e (book_id, model, dimension, embedding, text_hash, book_version)
			SELECT b.id, $2, $3, $4::vector, $5, $6 FROM catalog.books b WHERE b.id = $1 AND b.delete_time IS NULL
			ON CONFLICT (book_id) DO UPDATE SET model = excluded.model, dimension = excluded.dimension,
				embedding = excluded.embedding, text_hash = excluded.text_hash,
				book_version = greatest(e.book_version, excluded.book_version), update_time = now()`,
				it.BookID, model, dim, vectorLiteral(it.Vector), it.TextHash, it.Version)
		}
		if batch.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	return errTable.Translate(ctx, err, "embeddings")
}

// currentTextHashes returns the TextHash of the embedding text of each live
// book of ids, as of now. It first share-locks the authors and categories
// whose names those texts carry, so that a rename (which locks its entity
// FOR UPDATE and then marks the books whose text it changed) either commits
// before the texts are read, or waits for the caller's transaction and then
// marks what it stored.
func currentTextHashes(ctx context.Context, tx pgx.Tx, ids []string) (map[string]string, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM catalog.authors a
		WHERE a.id IN (SELECT author_id FROM catalog.book_authors WHERE book_id = ANY ($1::uuid[])) FOR SHARE`, ids); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM catalog.categories c
		WHERE c.id IN (SELECT category_id FROM catalog.books WHERE id = ANY ($1::uuid[])) FOR SHARE`, ids); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, bookSelect+` FROM catalog.books b`+bookJoins+` WHERE b.id = ANY ($1::uuid[]) AND b.delete_time IS NULL`, ids)
	if err != nil {
		return nil, err
	}
	books, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*catalog.Book, error) { return scanBook(row) })
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(books))
	for _, b := range books {
		out[b.ID()] = catalog.TextHash(catalog.EmbeddingText(b.Record()))
	}
	return out, nil
}

// ensureIndex creates the HNSW index of one dimension once.
func (s *Embeddings) ensureIndex(ctx context.Context, dim int) error {
	if _, ok := s.indexed.Load(dim); ok {
		return nil
	}
	d := strconv.Itoa(dim)
	_, err := s.pool.Exec(ctx, `CREATE INDEX IF NOT EXISTS book_embeddings_hnsw_`+d+` ON catalog.book_embeddings
		USING hnsw ((embedding::vector(`+d+`)) vector_cosine_ops) WHERE dimension = `+d)
	if err != nil {
		return errTable.Translate(ctx, err, "embeddings")
	}
	s.indexed.Store(dim, true)
	return nil
}

// markRenamedEmbeddings, in the transaction that renamed an entity, makes
// pending the embedded books selected by books (a condition on
// catalog.books b over the entity $1) whose embedding text, read with the new
// name, hashes differently from the embedded one: their embedding's
// book_version drops below the book's version, which stale_version then
// names, so the indexer's next PutEmbeddings of the book's current version
// clears the mark. A book whose text hashes as embedded (a rename back
// before the indexer ran) is no longer pending for a rename. The book's own
// version is unchanged: a rename is no edit of the book.
func markRenamedEmbeddings(ctx context.Context, tx pgx.Tx, books, entityID string) error {
	var ready bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('catalog.book_embeddings') IS NOT NULL`).Scan(&ready); err != nil || !ready {
		return err // no pgvector: nothing to keep
	}
	rows, err := tx.Query(ctx, bookSelect+` FROM (SELECT b.* FROM catalog.books b
		JOIN catalog.book_embeddings e ON e.book_id = b.id
		WHERE b.delete_time IS NULL AND `+books+`) b`+bookJoins, entityID)
	if err != nil {
		return err
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.BookRecord, error) {
		b, err := scanBook(row)
		if err != nil {
			return catalog.BookRecord{}, err
		}
		return b.Record(), nil
	})
	if err != nil || len(recs) == 0 {
		return err
	}
	ids, hashes, versions := make([]string, len(recs)), make([]string, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		ids[i], hashes[i], versions[i] = r.ID, catalog.TextHash(catalog.EmbeddingText(r)), r.Version
	}
	_, err = tx.Exec(ctx, `UPDATE catalog.book_embeddings e SET
			stale_version = CASE WHEN e.text_hash = u.hash THEN e.stale_version ELSE greatest(e.stale_version, u.version) END,
			book_version = CASE WHEN e.text_hash = u.hash THEN greatest(e.book_version, u.version) ELSE least(e.book_version, u.version - 1) END
		FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS u(id, hash, version)
		WHERE e.book_id = u.id AND (e.text_hash <> u.hash OR e.stale_version > e.book_version)`, ids, hashes, versions)
	return err
}

// EmbeddingEventsConsumer is the inbox name of EmbeddingEvents.
const EmbeddingEventsConsumer = "catalog.embeddings"

// EmbeddingEvents is the consumer of the catalog's own book events that keeps
// the embeddings' bookkeeping current, on the catalog's queue (an inbox
// handler, outbox.Handler): a created book is pending by having no embedding;
// an update whose embedding text (title, authors, category, description)
// hashes differently from the embedded one marks the embedding stale; a
// deleted book loses its embedding. It never calls the model, so it works
// while Ollama is down; the catalog.Indexer embeds, and changed is called
// after each event to nudge it.
type EmbeddingEvents struct {
	handler events.Handler
	changed func()
}

// NewEmbeddingEvents returns the consumer over pool; changed (may be nil) is
// called after an event that may have made a book pending.
func NewEmbeddingEvents(pool *pgxpool.Pool, changed func()) *EmbeddingEvents {
	c := &EmbeddingEvents{changed: changed}
	c.handler = outbox.Handler(pool, EmbeddingEventsConsumer, c.apply)
	return c
}

// The book events EmbeddingEvents consumes, by ce-type.
var (
	bookCreatedType = events.TypeOf(&catalogv1.BookCreated{})
	bookUpdatedType = events.TypeOf(&catalogv1.BookUpdated{})
	bookDeletedType = events.TypeOf(&catalogv1.BookDeleted{})
)

// EventTypes are the event types EmbeddingEvents consumes.
func (c *EmbeddingEvents) EventTypes() []string {
	return []string{bookCreatedType, bookUpdatedType, bookDeletedType}
}

// Handle applies one book event exactly once.
func (c *EmbeddingEvents) Handle(ctx context.Context, msg events.Message) error {
	if err := c.handler(ctx, msg); err != nil {
		return err
	}
	if c.changed != nil && msg.Type != bookDeletedType {
		c.changed()
	}
	return nil
}

func (c *EmbeddingEvents) apply(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	var id string
	switch msg.Type {
	case bookCreatedType:
		return nil // pending by having no embedding
	case bookUpdatedType:
		var m catalogv1.BookUpdated
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		id = m.GetBookId()
	case bookDeletedType:
		var m catalogv1.BookDeleted
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		id = m.GetBookId()
	default:
		return fmt.Errorf("catalog embeddings: unexpected event type %s", msg.Type)
	}
	if !coreid.Valid(id) {
		return fmt.Errorf("catalog embeddings: event %s: book id %q is not a UUID", msg.ID, id)
	}
	var ready bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('catalog.book_embeddings') IS NOT NULL`).Scan(&ready); err != nil || !ready {
		return err // no pgvector: nothing to keep
	}
	if msg.Type == bookDeletedType {
		_, err := tx.Exec(ctx, `DELETE FROM catalog.book_embeddings WHERE book_id = $1`, id)
		return err
	}
	b, err := getBook(ctx, tx, id)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, failure.ErrNotFound) {
			return nil // a book this database never had: nothing to keep
		}
		return err
	}
	r := b.Record()
	if r.DeleteTime != nil {
		_, err := tx.Exec(ctx, `DELETE FROM catalog.book_embeddings WHERE book_id = $1`, id)
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE catalog.book_embeddings SET stale_version = greatest(stale_version, $2)
		WHERE book_id = $1 AND text_hash <> $3`, id, r.Version, catalog.TextHash(catalog.EmbeddingText(r)))
	return err
}
