package catalogstore

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

// How a search matches books. Every page of one search uses the mode its
// first page used (the page token carries it), so pages never mix
// rankings.
const (
	// searchWords matches the full-text document (title A, authors B,
	// category and publisher C, description D) against the query as
	// written (websearch_to_tsquery) and, ranked below those, against the
	// query with each word replaced by its nearest words in the lexicon of
	// titles and author names (search_words): "dragn" finds "dragon". Both
	// use the GIN index on the document, so a search costs the same with
	// or without typos.
	searchWords = iota
	// searchTrigrams compares the whole query with the titles and author
	// names (pg_trgm word_similarity, from trigramThreshold up). It runs
	// only when searchWords found nothing, which covers queries of stop
	// words only ("the") and typos the lexicon cannot place.
	searchTrigrams
	// searchExact matches the query as written only: a query whose first
	// window is full of exact matches (a common word) needs no typo
	// correction, and skipping it keeps the lexicon out of every page.
	searchExact
)

// searchWindow is how many matches a lexical search in Postgres ranks at
// once (the path taken while the BookCache's SearchIndex is not serving,
// and by the plain Books store; the index ranks every match). Ranking
// every match of a common word ("history" matches a third of the demo
// catalogue) costs a heap fetch and a ts_rank per match; instead a search
// ranks the searchWindow newest matches (id order, which the primary key
// gives: for a common word a short backward walk of the index, for a rare
// one the GIN index and a sort of its few matches, whichever the planner
// finds cheaper for the query's real words), serves pages from them by
// relevance, and then ranks the next searchWindow older matches, and so
// on. Each page token carries the id bounds of its window, so windows
// partition the matches: every match is on exactly one page.
const searchWindow = 200

// Lexicon lookups: each query word is replaced by up to lexiconAlternatives
// nearest words of at least lexiconSimilarity (pg_trgm similarity, 0..1).
// 0.25 still pairs a swap of two letters in a six-letter word ("drgaon",
// "dragon").
const (
	lexiconAlternatives = "3"
	lexiconSimilarity   = "0.25"
	maxLexiconWords     = 8
)

// rankWeights weigh the parts of the document for ts_rank, in the order
// {D, C, B, A}: a title match outranks an author match, and so on.
const rankWeights = `'{0.1, 0.2, 0.4, 1.0}'`

// tsQueriesSQL makes a search's text-search queries, once per page, so
// that the statements using them see constants and are planned for the
// query's real words. $1 is the query, $2 the words to look up in the
// lexicon, $3 the exclusions (" & !word"), $4 the exclusions as "a | b"
// (or "" for none). The fuzzy query is NULL when a word has no neighbour.
const tsQueriesSQL = `
	SELECT websearch_to_tsquery('english', $1::text)::text,
	       (SELECT to_tsquery('english', string_agg(x.alts, ' & ' ORDER BY x.ord) || $3::text)
	          FROM (SELECT w.ord, '(' || string_agg(c.word, ' | ') || ')' AS alts
	                  FROM unnest($2::text[]) WITH ORDINALITY AS w (word, ord)
	                 CROSS JOIN LATERAL (SELECT s.word FROM catalog.search_words s
	                                      ORDER BY s.word <-> w.word LIMIT ` + lexiconAlternatives + `) c
	                 WHERE similarity(c.word, w.word) >= ` + lexiconSimilarity + `
	                 GROUP BY w.ord) x
	        HAVING count(*) = cardinality($2::text[]))::text,
	       to_tsquery('english', $4::text)::text`

// tsQueries are a search's text-search queries as text: exact
// (websearch_to_tsquery of the query), fuzzy (each word or its lexicon
// neighbours; nil when a word has none), excluded (the excluded words, for
// searchTrigrams), and included, the query's text without its exclusions.
type tsQueries struct {
	exact    string
	fuzzy    *string
	excluded string
	included string
}

func (s *Books) tsQueries(ctx context.Context, query string) (tsQueries, error) {
	words, excluded, included := queryTerms(query)
	var not strings.Builder
	for _, w := range excluded {
		not.WriteString(" & !" + w)
	}
	tq := tsQueries{included: included}
	err := s.pool.QueryRow(ctx, tsQueriesSQL, query, words, not.String(), strings.Join(excluded, " | ")).
		Scan(&tq.exact, &tq.fuzzy, &tq.excluded)
	return tq, err
}

// searchFirst is the mode of a search's first window, before it is known:
// searchExact when the window is full of exact matches, else searchWords,
// else, when that finds nothing, searchTrigrams; one statement tries them
// in turn (see windowSQL).
const searchFirst = -1

// windowSQL selects the matches of a window as (id, relevance, mode): with
// lo == "" the newest size matches below hi (a window being opened), else
// those from lo up to hi. Exact matches rank in [1, 2), corrected ones in
// [0, 1): ts_rank with normalisation 32 is rank/(rank+1). In searchFirst
// mode it selects the window of the first mode that fits, evaluating the
// next one only when the previous one does not (a gated UNION ALL).
func windowSQL(mode int, tq tsQueries, f catalog.BookFilter, a *postgres.Args, w window, size int) (string, error) {
	if mode == searchFirst {
		var parts [3]string
		for i, m := range []int{searchExact, searchWords, searchTrigrams} {
			sql, err := windowSQL(m, tq, f, a, w, size)
			if err != nil {
				return "", err
			}
			parts[i] = sql
		}
		full := `(SELECT count(*) FROM ex) >= ` + strconv.Itoa(size)
		return `WITH ex AS MATERIALIZED (` + parts[0] + `),
			wd AS MATERIALIZED (` + parts[1] + `),
			tg AS MATERIALIZED (` + parts[2] + `)
			SELECT * FROM ex WHERE ` + full + `
			UNION ALL SELECT * FROM wd WHERE NOT ` + full + `
			UNION ALL SELECT * FROM tg WHERE NOT ` + full + ` AND NOT EXISTS (SELECT 1 FROM wd)`, nil
	}
	var rel, match string
	switch mode {
	case searchExact:
		e := a.Add(tq.exact) + "::tsquery"
		rel = `1 + ts_rank(` + rankWeights + `, b.search, ` + e + `, 32)`
		match = `b.search @@ ` + e
	case searchWords:
		e, z := a.Add(tq.exact)+"::tsquery", a.Add(tq.fuzzy)+"::tsquery"
		rel = `CASE WHEN b.search @@ ` + e + ` THEN 1 + ts_rank(` + rankWeights + `, b.search, ` + e + `, 32)
		             ELSE ts_rank(` + rankWeights + `, b.search, ` + z + `, 32) END`
		match = `(b.search @@ ` + e + ` OR b.search @@ ` + z + `)`
	case searchTrigrams:
		t := a.Add(tq.included) + "::text"
		rel = `word_similarity(` + t + `, b.search_text)`
		match = t + ` <% b.search_text AND NOT b.search @@ ` + a.Add(tq.excluded) + `::tsquery`
	default:
		return "", postgres.ErrPageToken
	}
	where := append(filterSQL(f, a), match)
	if w.hi != "" {
		where = append(where, "b.id < "+a.Add(w.hi)+"::uuid")
	}
	limit := ""
	if w.lo != "" {
		where = append(where, "b.id >= "+a.Add(w.lo)+"::uuid")
	} else {
		limit = " LIMIT " + strconv.Itoa(size)
	}
	return `SELECT b.id, (` + rel + `)::float8 AS relevance, ` + strconv.Itoa(mode) + ` AS mode
		  FROM catalog.books b
		 WHERE ` + strings.Join(where, " AND ") + `
		 ORDER BY b.id DESC` + limit, nil
}

// window is the part of a lexical search's matches ranked together: ids
// from lo (inclusive) to hi (exclusive, "" for no bound). lo is "" until
// the window is opened; last says no older window follows.
type window struct {
	hi, lo string
	last   bool
}

// queryTerms reads a web search query as websearch_to_tsquery does
// ("-word" excludes, "or" is an operator, quotes group words) and returns
// the words to correct through the lexicon (three letters or more, at most
// maxLexiconWords), the excluded words, and the text of what is not
// excluded. Words are runs of letters only, so they can be written into a
// tsquery as they are.
func queryTerms(query string) (words, excluded []string, included string) {
	seen := map[string]bool{}
	var (
		token, text      strings.Builder
		quoted, negative bool
	)
	flush := func() {
		if !negative && token.Len() > 0 {
			if text.Len() > 0 {
				text.WriteByte(' ')
			}
			text.WriteString(token.String())
		}
		for _, w := range strings.FieldsFunc(strings.ToLower(token.String()), func(r rune) bool { return !unicode.IsLetter(r) }) {
			switch {
			case negative:
				excluded = append(excluded, w)
			case w == "or" || utf8.RuneCountInString(w) < 3 || seen[w] || len(words) == maxLexiconWords:
			default:
				seen[w] = true
				words = append(words, w)
			}
		}
		token.Reset()
		negative = false
	}
	for _, r := range query {
		switch {
		case r == '"':
			flush()
			quoted = !quoted
		case unicode.IsSpace(r):
			flush()
		case r == '-' && token.Len() == 0 && !quoted:
			negative = true
		default:
			token.WriteRune(r)
		}
	}
	flush()
	return words, excluded, text.String()
}

// SearchBooks returns one page of live books matching q.Query, most
// relevant first (within a window of matches, see searchWindow), ties
// broken by id (descending, so newer first).
func (s *Books) SearchBooks(ctx context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	query := searchFingerprint(q).Sum()
	cur, after, err := decodeCursor(q.PageToken, query)
	if err != nil {
		return catalog.SearchPage{}, err
	}
	if q.Mode != catalog.SearchLexical {
		if page, ok, err := s.semanticSearch(ctx, q, query, cur, after); ok || err != nil {
			return page, errTable.Translate(ctx, err, "books")
		}
	}
	page, err := s.lexicalSearch(ctx, q, query, cur, after)
	return page, errTable.Translate(ctx, err, "books")
}

// lexicalSearch answers a lexical search; its first page chooses the mode
// (searchFirst).
func (s *Books) lexicalSearch(ctx context.Context, q catalog.SearchBooksQuery, query uint64, cur cursor, after bool) (catalog.SearchPage, error) {
	tq, err := s.tsQueries(ctx, q.Query)
	if err != nil {
		return catalog.SearchPage{}, err
	}
	mode := searchFirst
	if after {
		mode = cur.Mode
	}
	return s.search(ctx, q, query, tq, mode, cur, after)
}

// windowSize is searchWindow, or the test's.
func (s *Books) windowSize() int {
	if s.window > 0 {
		return s.window
	}
	return searchWindow
}

// search returns one page in mode, after cur when after: the rest of the
// cursor's window, then the next windows until the page is full.
func (s *Books) search(ctx context.Context, q catalog.SearchBooksQuery, query uint64, tq tsQueries, mode int, cur cursor, after bool) (page catalog.SearchPage, err error) {
	size := s.windowSize()
	type hit struct {
		catalog.SearchHit
		w window
	}
	var (
		hits []hit
		w    window
	)
	if after {
		w = window{hi: cur.Hi, lo: cur.Lo, last: cur.Last}
	}
	for first := true; ; first = false {
		a := postgres.Args{}
		win, err := windowSQL(mode, tq, q.Filter, &a, w, size)
		if err != nil {
			return catalog.SearchPage{}, err
		}
		keyset := ""
		if after && first {
			keyset = "WHERE (w.relevance, w.id) < (" + a.Add(cur.Float) + ", " + a.Add(cur.ID) + "::uuid)"
		}
		// The page's rows are chosen before they are joined with the
		// books, so that the join reads a page of books by primary key
		// whatever the planner thinks of the window's size.
		sql := `WITH win AS (` + win + `)
			SELECT ` + bookColumns + `, b.relevance, b.mode, (SELECT count(*) FROM win), (SELECT id::text FROM win ORDER BY id LIMIT 1)
			  FROM (SELECT ` + bookRowColumns + `, w.relevance, w.mode
			          FROM (SELECT * FROM win w ` + keyset + ` ORDER BY w.relevance DESC, w.id DESC LIMIT ` + a.Add(q.PageSize+1-len(hits)) + `) w
			          JOIN catalog.books b ON b.id = w.id) b` + bookJoins + `
			 ORDER BY b.relevance DESC, b.id DESC`
		// Planned with the values (an unnamed statement each time), so
		// that the planner sees how common the query's words are.
		rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, a...)...)
		if err != nil {
			return catalog.SearchPage{}, err
		}
		var (
			n, m int
			lo   *string
		)
		opening := w.lo == ""
		got := 0
		for rows.Next() {
			var rel float64
			b, err := scanBook(rows, &rel, &m, &n, &lo)
			if err != nil {
				rows.Close()
				return catalog.SearchPage{}, err
			}
			got++
			hits = append(hits, hit{SearchHit: catalog.SearchHit{Book: b, Relevance: rel}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return catalog.SearchPage{}, err
		}
		if opening {
			if got == 0 { // an empty window: no match below hi
				w.last = true
			} else {
				w.lo, w.last, mode = *lo, n < size, m
			}
		}
		for i := len(hits) - got; i < len(hits); i++ {
			hits[i].w = w
		}
		if len(hits) > q.PageSize || w.last {
			break
		}
		w = window{hi: w.lo}
	}
	for i, h := range hits {
		if i == q.PageSize {
			last := hits[i-1]
			page.NextPageToken = cursor{Query: query, Float: last.Relevance, ID: last.Book.ID(), Mode: mode,
				Hi: last.w.hi, Lo: last.w.lo, Last: last.w.last}.encode()
			break
		}
		page.Hits = append(page.Hits, h.SearchHit)
	}
	return page, nil
}
