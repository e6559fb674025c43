package catalogstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// The semantic search modes, in page cursors beside searchWords and
// searchTrigrams.
const (
	searchSemantic = 10 + iota
	searchHybrid
)

// Semantic search walks the HNSW index from the query's vector, each page
// continuing after the previous one's last (relevance, id): every embedded
// book is reachable, and a first page reads few index entries. Hybrid search
// fuses the best hybridDepth of each ranking (lexical and vector) by
// reciprocal rank fusion with constant rrfK, and pages walk through that
// bounded set by keyset. tieSlack extra neighbours are read per semantic page
// so that books at exactly the same distance (equal texts) keep their id
// order across a page boundary.
// deepSemantic: a semantic page after this many hits is read by an
// exact scan of the vectors instead of the HNSW index. An iterative
// index scan starts again from the top for every page and gives up
// after hnsw.max_scan_tuples, so deep pages would end early; the
// exact scan orders by the same distance, so the keyset holds across
// the switch. A variable for the tests.
var deepSemantic = 1000

const (
	hybridDepth = 60
	rrfK        = 60
	tieSlack    = 16
)

// embeddingsState is what Books.embeddings remembers for a short while per
// "model/dimension": whether books have such embeddings, so that searches
// do not ask on every call.
type embeddingsState struct {
	has bool
	at  time.Time
}

const embeddingsStateTTL = 5 * time.Second

func (s *Books) hasEmbeddings(ctx context.Context, model string, dim int) (bool, error) {
	key := model + "/" + strconv.Itoa(dim)
	if v, ok := s.embeddings.Load(key); ok && time.Since(v.(embeddingsState).at) < embeddingsStateTTL {
		return v.(embeddingsState).has, nil
	}
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog.book_embeddings WHERE model = $1 AND dimension = $2)`, model, dim).Scan(&has)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no table: no pgvector
		err = nil
	}
	if err != nil {
		return false, err
	}
	s.embeddings.Store(key, embeddingsState{has: has, at: time.Now()})
	return has, nil
}

// semanticSearch answers the semantic modes. ok is false when the search is
// lexical after all: no query embedding (the model was unavailable) on a
// first page, or a lexical page token of an auto-mode search. A lexical
// answer because nothing is embedded yet is returned here, marked.
func (s *Books) semanticSearch(ctx context.Context, q catalog.SearchBooksQuery, query uint64, cur cursor, after bool) (catalog.SearchPage, bool, error) {
	if after && cur.Mode != searchSemantic && cur.Mode != searchHybrid {
		return catalog.SearchPage{}, false, nil // lexical, or no token of ours (refused there)
	}
	if q.Embedding == nil {
		if after {
			return catalog.SearchPage{}, true, failure.ErrUnavailable
		}
		return catalog.SearchPage{}, false, nil
	}
	dim := len(q.Embedding)
	has, err := s.hasEmbeddings(ctx, q.EmbeddingModel, dim)
	if err != nil {
		return catalog.SearchPage{}, true, err
	}
	if !has {
		if after {
			return catalog.SearchPage{}, true, failure.ErrUnavailable
		}
		page, err := s.lexicalSearch(ctx, q, query, cursor{}, false)
		page.Mode, page.Degraded = catalog.SearchLexical, catalog.DegradedNotEmbedded
		return page, true, err
	}
	mode, pageMode := searchHybrid, catalog.SearchHybrid
	if q.Mode == catalog.SearchSemantic {
		mode, pageMode = searchSemantic, catalog.SearchSemantic
	}
	if after && cur.Mode != mode {
		return catalog.SearchPage{}, true, postgres.ErrPageToken
	}
	page, err := s.rankSemantic(ctx, q, query, mode, cur, after)
	page.Mode = pageMode
	return page, true, err
}

// semanticSQL selects up to limit nearest live books passing the filters
// and, when after, beyond the cursor, as (id, dist) in distance order; it
// walks the HNSW index of the dimension, whose expression and predicate it
// repeats literally so that the planner can prove the partial index applies.
func semanticSQL(q catalog.SearchBooksQuery, a *postgres.Args, cur cursor, after bool, limit int) string {
	return semanticOrderSQL(q, a, cur, after, limit, false, false)
}

// semanticOrderSQL is semanticSQL, by an exact scan when exact (see
// deepSemantic): ordered by an expression the HNSW index cannot give, so
// the planner sorts every vector by distance, ties by id (descending, the
// search's tie order). lean leaves the books table out, and with it the
// filters and the deleted books (the caller drops those itself).
func semanticOrderSQL(q catalog.SearchBooksQuery, a *postgres.Args, cur cursor, after bool, limit int, exact, lean bool) string {
	d := strconv.Itoa(len(q.Embedding))
	vec := a.Add(vectorLiteral(q.Embedding)) + "::vector(" + d + ")"
	where := []string{`e.dimension = ` + d, `e.model = ` + a.Add(q.EmbeddingModel)}
	from := `catalog.book_embeddings e`
	if !lean {
		from += ` JOIN catalog.books b ON b.id = e.book_id`
		where = append(where, filterSQL(q.Filter, a)...)
	}
	dist := `(e.embedding::vector(` + d + `) <=> ` + vec + `)`
	if after {
		where = append(where, `(1 - `+dist+`::float8, e.book_id) < (`+a.Add(cur.Float)+`, `+a.Add(cur.ID)+`::uuid)`)
	}
	return `SELECT e.book_id AS id, ` + dist + `::float8 AS dist
		  FROM ` + from + `
		 WHERE ` + strings.Join(where, " AND ") + `
		 ORDER BY ` + semanticOrder(dist, exact) + `
		 LIMIT ` + strconv.Itoa(limit)
}

// semanticOrder is the ORDER BY of a nearest-neighbour statement.
func semanticOrder(dist string, exact bool) string {
	if exact {
		return dist + ` + 0, e.book_id DESC`
	}
	return dist
}

func (s *Books) rankSemantic(ctx context.Context, q catalog.SearchBooksQuery, query uint64, mode int, cur cursor, after bool) (catalog.SearchPage, error) {
	var (
		a      postgres.Args
		ranked string
		ef     = hybridDepth // the nearest neighbours a query needs
	)
	switch mode {
	case searchSemantic:
		// Cosine similarity: 1 - cosine distance.
		ef = q.PageSize + 1 + tieSlack
		ranked = `SELECT s.id, 1 - s.dist AS relevance FROM (` + semanticOrderSQL(q, &a, cur, after, ef, cur.Depth >= deepSemantic, false) + `) s`
	case searchHybrid:
		// The lexical list is the best hybridDepth of the first window.
		tq, err := s.tsQueries(ctx, q.Query)
		if err != nil {
			return catalog.SearchPage{}, err
		}
		win, err := windowSQL(searchWords, tq, q.Filter, &a, window{}, max(s.windowSize(), hybridDepth))
		if err != nil {
			return catalog.SearchPage{}, err
		}
		k := strconv.Itoa(rrfK)
		ranked = `WITH lex AS (SELECT h.id, row_number() OVER (ORDER BY h.relevance DESC, h.id DESC) AS r
			          FROM (` + win + `) h ORDER BY h.relevance DESC, h.id DESC LIMIT ` + strconv.Itoa(hybridDepth) + `),
			sem AS (SELECT v.id, row_number() OVER (ORDER BY v.dist, v.id) AS r FROM (` + semanticSQL(q, &a, cursor{}, false, hybridDepth) + `) v)
			SELECT coalesce(l.id, v.id) AS id,
			       (coalesce(1.0 / (` + k + ` + l.r), 0) + coalesce(1.0 / (` + k + ` + v.r), 0))::float8 AS relevance
			  FROM lex l FULL JOIN sem v ON v.id = l.id`
	}
	keyset := ""
	if after {
		keyset = "WHERE (f.relevance, f.id) < (" + a.Add(cur.Float) + ", " + a.Add(cur.ID) + "::uuid)"
	}
	sql := `SELECT ` + bookColumns + `, b.relevance
		  FROM (SELECT ` + bookRowColumns + `, f.relevance
		          FROM (SELECT * FROM (` + ranked + `) f ` + keyset + ` ORDER BY f.relevance DESC, f.id DESC LIMIT ` + a.Add(q.PageSize+1) + `) f
		          JOIN catalog.books b ON b.id = f.id) b` + bookJoins + `
		 ORDER BY b.relevance DESC, b.id DESC`

	// One round trip: the settings and the query in one pipeline, which
	// Postgres runs as one implicit transaction, so the local settings hold
	// for the query and end with it. HNSW returns at most ef_search rows
	// unless it may scan on (pgvector 0.8); strict order keeps the keyset
	// exact. ef_search is the rows the query needs: a longer candidate list
	// buys a little recall for distance computations on every search, and
	// the scan goes on (iteratively) while the query wants more. Custom
	// plans: the lexical list of hybrid search is planned for how common
	// the query's words are (see search).
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', $1, true),
		set_config('hnsw.max_scan_tuples', '50000', true), set_config('plan_cache_mode', 'force_custom_plan', true)`,
		strconv.Itoa(max(ef, 40)))
	var (
		page catalog.SearchPage
		last cursor
	)
	batch.Queue(sql, a...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if len(page.Hits) == q.PageSize {
				page.NextPageToken = last.encode()
				break
			}
			var rel float64
			b, err := scanBook(rows, &rel)
			if err != nil {
				return err
			}
			last = cursor{Query: query, Float: rel, ID: b.ID(), Mode: mode, Depth: cur.Depth + q.PageSize}
			page.Hits = append(page.Hits, catalog.SearchHit{Book: b, Relevance: rel})
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return catalog.SearchPage{}, err
	}
	return page, nil
}

var _ catalog.SimilarBooks = (*Books)(nil)

// SimilarBooks implements catalog.SimilarBooks: the HNSW neighbours of the
// book's own vector.
func (s *Books) SimilarBooks(ctx context.Context, id, model string, limit int) ([]*catalog.Book, bool, error) {
	var dim int
	err := s.pool.QueryRow(ctx, `SELECT dimension FROM catalog.book_embeddings WHERE book_id = $1 AND model = $2`, id, model).Scan(&dim)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pgErr) && pgErr.Code == "42P01":
		return nil, false, nil
	case err != nil:
		return nil, false, errTable.Translate(ctx, err, "books")
	}
	d := strconv.Itoa(dim)
	me := `(SELECT m.embedding::vector(` + d + `) FROM catalog.book_embeddings m WHERE m.book_id = $1)`
	sql := `SELECT ` + bookColumns + `
		  FROM (SELECT b.*, (e.embedding::vector(` + d + `) <=> ` + me + `) AS dist
		          FROM catalog.book_embeddings e JOIN catalog.books b ON b.id = e.book_id
		         WHERE e.dimension = ` + d + ` AND e.model = $2 AND b.delete_time IS NULL AND b.id <> $1
		         ORDER BY e.embedding::vector(` + d + `) <=> ` + me + ` LIMIT $3) b` + bookJoins + `
		 ORDER BY b.dist, b.id`
	var books []*catalog.Book
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('hnsw.iterative_scan', 'strict_order', true)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, id, model, limit)
		if err != nil {
			return err
		}
		books, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*catalog.Book, error) { return scanBook(row) })
		return err
	})
	return books, true, errTable.Translate(ctx, err, "books")
}

// RelatedBooks implements catalog.SimilarBooks: books sharing an author
// first, then the category's, best rated first.
func (s *Books) RelatedBooks(ctx context.Context, id string, limit int) ([]*catalog.Book, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+bookColumns+`
		  FROM (SELECT b.*, EXISTS (SELECT 1 FROM catalog.book_authors x JOIN catalog.book_authors y ON y.author_id = x.author_id
		                             WHERE x.book_id = b.id AND y.book_id = me.id) AS shared
		          FROM catalog.books b, catalog.books me
		         WHERE me.id = $1 AND b.id <> me.id AND b.delete_time IS NULL
		           AND (b.category_id = me.category_id OR EXISTS (SELECT 1 FROM catalog.book_authors x JOIN catalog.book_authors y
		                ON y.author_id = x.author_id WHERE x.book_id = b.id AND y.book_id = me.id))
		         ORDER BY shared DESC, b.rating_avg DESC, b.id LIMIT $2) b`+bookJoins+`
		 ORDER BY b.shared DESC, b.rating_avg DESC, b.id`, id, limit)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "books")
	}
	books, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*catalog.Book, error) { return scanBook(row) })
	return books, errTable.Translate(ctx, err, "books")
}
