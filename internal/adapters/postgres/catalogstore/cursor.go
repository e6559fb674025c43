package catalogstore

import (
	"slices"
	"strconv"
	"strings"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// cursor is what a page token carries: the sort key and id of the last row
// of the page, and a fingerprint of the query that made it. Rows after the
// cursor are those strictly beyond (key, id) in the query's order, so rows
// inserted between two pages can neither repeat a row nor push one out.
type cursor struct {
	// Query is the fingerprint of the query (filters, order, search text;
	// not the page size, which may change from page to page).
	Query uint64 `json:"q"`
	// One of these is the sort key, depending on the order.
	Text  string  `json:"s,omitempty"`
	Int   int64   `json:"n,omitempty"`
	Float float64 `json:"f,omitempty"`
	ID    string  `json:"i"`
	// Mode is how a search matched (searchWords, searchTrigrams, ...).
	Mode int `json:"m,omitempty"`
	// Hi, Lo and Last are the window of a lexical search the row is in
	// (see searchWindow).
	Hi   string `json:"h,omitempty"`
	Lo   string `json:"l,omitempty"`
	Last bool   `json:"e,omitempty"`
	// Depth is how many hits a semantic search served before this token:
	// deep pages leave the HNSW index for an exact scan (deepSemantic).
	Depth int `json:"d,omitempty"`
}

// encode returns the token: base64url of the JSON. JSON writes a float64
// in the shortest form that reads back to the same bits, which the keyset
// comparison on relevance and rating needs.
func (c cursor) encode() string { return postgres.EncodeToken(c) }

// decodeCursor reads a token and checks that it belongs to the query with
// fingerprint query. The empty token is the first page (ok false).
func decodeCursor(token string, query uint64) (c cursor, ok bool, err error) {
	if token == "" {
		return cursor{}, false, nil
	}
	// A forged token must fail here, not in Postgres: text with NUL cannot
	// be a parameter, and integer keys beyond postgres.MaxTokenKey are no
	// price and no time Postgres can hold.
	if err := postgres.DecodeToken(token, &c); err != nil || c.Query != query || !coreid.Valid(c.ID) ||
		c.Depth < 0 || c.Hi != "" && !coreid.Valid(c.Hi) || c.Lo != "" && !coreid.Valid(c.Lo) ||
		strings.IndexByte(c.Text, 0) >= 0 || c.Int > postgres.MaxTokenKey || c.Int < -postgres.MaxTokenKey {
		return cursor{}, false, postgres.ErrPageToken
	}
	return c, true, nil
}

// addIDs adds a set of ids, in any order and case.
func addIDs(f *postgres.Fingerprint, ids []string) {
	s := slices.Clone(ids)
	for i := range s {
		s[i] = coreid.Canonical(s[i])
	}
	slices.Sort(s)
	s = slices.Compact(s)
	f.Add(strconv.Itoa(len(s)))
	f.Add(s...)
}

// addFilter adds the filters of a book query.
func addFilter(f *postgres.Fingerprint, flt catalog.BookFilter) {
	addIDs(f, flt.CategoryIDs)
	addIDs(f, flt.PublisherIDs)
	addIDs(f, flt.AuthorIDs)
	f.Add(flt.MinPrice.String(), flt.MaxPrice.String(), strconv.FormatBool(flt.InStockOnly))
}

// listFingerprint covers what a ListBooks page token is bound to.
func listFingerprint(q catalog.ListBooksQuery) *postgres.Fingerprint {
	f := postgres.NewFingerprint("books")
	f.Add(strconv.Itoa(int(q.Order)), strconv.FormatBool(q.Descending))
	addFilter(f, q.Filter)
	return f
}

// searchFingerprint covers what a SearchBooks page token is bound to.
func searchFingerprint(q catalog.SearchBooksQuery) *postgres.Fingerprint {
	f := postgres.NewFingerprint("search")
	f.Add(q.Query)
	if q.Mode != catalog.SearchLexical { // the semantic modes (semantic.go)
		f.Add("mode", strconv.Itoa(int(q.Mode)), q.EmbeddingModel)
	}
	addFilter(f, q.Filter)
	return f
}
