package catalogstore

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

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
)

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

// searchWordsSQL matches and ranks in searchWords mode. $1 is the query,
// $2 the words to look up in the lexicon, $3 the exclusions (" & !word").
// Exact matches rank in [1, 2), corrected ones in [0, 1): ts_rank with
// normalisation 32 is rank/(rank+1).
const searchWordsSQL = `
	WITH q AS (
		SELECT (SELECT websearch_to_tsquery('english', $1::text)) AS exact,
		       (SELECT to_tsquery('english', string_agg(x.alts, ' & ' ORDER BY x.ord) || $3::text)
		          FROM (SELECT w.ord, '(' || string_agg(c.word, ' | ') || ')' AS alts
		                  FROM unnest($2::text[]) WITH ORDINALITY AS w (word, ord)
		                 CROSS JOIN LATERAL (SELECT s.word FROM catalog.search_words s
		                                      ORDER BY s.word <-> w.word LIMIT ` + lexiconAlternatives + `) c
		                 WHERE similarity(c.word, w.word) >= ` + lexiconSimilarity + `
		                 GROUP BY w.ord) x
		        HAVING count(*) = cardinality($2::text[])) AS fuzzy
	),
	hits AS (
		SELECT ` + bookRowColumns + `,
		       (CASE WHEN b.search @@ q.exact THEN 1 + ts_rank(` + rankWeights + `, b.search, q.exact, 32)
		             ELSE ts_rank(` + rankWeights + `, b.search, q.fuzzy, 32) END)::float8 AS relevance
		  FROM catalog.books b, q
		 WHERE (b.search @@ q.exact OR b.search @@ q.fuzzy) AND `

// searchTrigramsSQL matches and ranks in searchTrigrams mode; $1 is the
// query without its exclusions, $2 the exclusions as a tsquery ("a | b",
// or "" for none).
const searchTrigramsSQL = `
	WITH q AS (SELECT $1::text AS text, (SELECT to_tsquery('english', $2::text)) AS excluded),
	hits AS (
		SELECT ` + bookRowColumns + `, word_similarity(q.text, b.search_text)::float8 AS relevance
		  FROM catalog.books b, q
		 WHERE q.text <% b.search_text AND NOT b.search @@ q.excluded AND `

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
// relevant first, ties broken by id (descending, so newer first).
func (s *Books) SearchBooks(ctx context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	query := searchFingerprint(q).Sum()
	cur, after, err := decodeCursor(q.PageToken, query)
	if err != nil {
		return catalog.SearchPage{}, err
	}
	mode := searchWords
	if after {
		mode = cur.Mode
	}
	if q.Mode != catalog.SearchLexical {
		if page, ok, err := s.semanticSearch(ctx, q, query, cur, after); ok || err != nil {
			return page, errTable.Translate(ctx, err, "books")
		}
	}
	page, err := s.search(ctx, q, query, mode, cur, after)
	if err == nil && !after && mode == searchWords && len(page.Hits) == 0 {
		page, err = s.search(ctx, q, query, searchTrigrams, cursor{}, false)
	}
	if err != nil {
		return catalog.SearchPage{}, errTable.Translate(ctx, err, "books")
	}
	return page, nil
}

func (s *Books) search(ctx context.Context, q catalog.SearchBooksQuery, query uint64, mode int, cur cursor, after bool) (catalog.SearchPage, error) {
	a := postgres.Args{q.Query}
	var sql string
	switch mode {
	case searchWords:
		words, excluded, _ := queryTerms(q.Query)
		a.Add(words)
		var not strings.Builder
		for _, w := range excluded {
			not.WriteString(" & !" + w)
		}
		a.Add(not.String())
		sql = searchWordsSQL
	case searchTrigrams:
		_, excluded, included := queryTerms(q.Query)
		a[0] = included
		a.Add(strings.Join(excluded, " | "))
		sql = searchTrigramsSQL
	default:
		return catalog.SearchPage{}, postgres.ErrPageToken
	}
	where := filterSQL(q.Filter, &a)
	keyset := ""
	if after {
		keyset = "WHERE (h.relevance, h.id) < (" + a.Add(cur.Float) + ", " + a.Add(cur.ID) + "::uuid)"
	}
	sql += strings.Join(where, " AND ") + `
		)
		SELECT ` + bookColumns + `, b.relevance
		  FROM (SELECT * FROM hits h ` + keyset + ` ORDER BY h.relevance DESC, h.id DESC LIMIT ` + a.Add(q.PageSize+1) + `) b` +
		bookJoins + `
		 ORDER BY b.relevance DESC, b.id DESC`

	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return catalog.SearchPage{}, err
	}
	defer rows.Close()
	var (
		page catalog.SearchPage
		last cursor
	)
	for rows.Next() {
		if len(page.Hits) == q.PageSize {
			page.NextPageToken = last.encode()
			break
		}
		var rel float64
		b, err := scanBook(rows, &rel)
		if err != nil {
			return catalog.SearchPage{}, err
		}
		last = cursor{Query: query, Float: rel, ID: b.ID(), Mode: mode}
		page.Hits = append(page.Hits, catalog.SearchHit{Book: b, Relevance: rel})
	}
	return page, rows.Err()
}
