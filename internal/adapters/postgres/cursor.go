package postgres

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
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
	// Mode is how a search matched (searchWords, searchTrigrams).
	Mode int `json:"m,omitempty"`
}

// encode returns the token: base64url of the JSON. JSON writes a float64
// in the shortest form that reads back to the same bits, which the keyset
// comparison on relevance and rating needs.
func (c cursor) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // a struct of strings and numbers always marshals
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

var errPageToken = failure.Invalid("page_token", "is not a page token of this query")

// decodeCursor reads a token and checks that it belongs to the query with
// fingerprint query. The empty token is the first page (ok false).
func decodeCursor(token string, query uint64) (c cursor, ok bool, err error) {
	if token == "" {
		return cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return cursor{}, false, errPageToken
	}
	// A forged token must fail here, not in Postgres: text with NUL cannot
	// be a parameter, and sort keys beyond maxCursorKey are no price (money
	// stops at 2^53 minor units) and no time Postgres can hold.
	if err := json.Unmarshal(b, &c); err != nil || c.Query != query || !catalog.IsID(c.ID) ||
		strings.IndexByte(c.Text, 0) >= 0 || c.Int > maxCursorKey || c.Int < -maxCursorKey {
		return cursor{}, false, errPageToken
	}
	return c, true, nil
}

// maxCursorKey bounds the integer sort keys of a token: 2^53, the largest
// amount of money in minor units, and about 285 years of microseconds on
// either side of 1970, well inside the range of a Postgres timestamp.
const maxCursorKey = 1 << 53

// fingerprint hashes the parts of a query that a token is bound to.
type fingerprint struct{ b strings.Builder }

func newFingerprint(kind string) *fingerprint {
	f := &fingerprint{}
	f.add(kind)
	return f
}

func (f *fingerprint) add(parts ...string) {
	for _, p := range parts {
		f.b.WriteString(strconv.Itoa(len(p)))
		f.b.WriteByte(':')
		f.b.WriteString(p)
	}
}

func (f *fingerprint) addIDs(ids []string) {
	s := slices.Clone(ids)
	for i := range s {
		s[i] = strings.ToLower(s[i])
	}
	slices.Sort(s)
	s = slices.Compact(s)
	f.add(strconv.Itoa(len(s)))
	f.add(s...)
}

func (f *fingerprint) addFilter(flt catalog.BookFilter) {
	f.addIDs(flt.CategoryIDs)
	f.addIDs(flt.PublisherIDs)
	f.addIDs(flt.AuthorIDs)
	f.add(flt.MinPrice.String(), flt.MaxPrice.String(), strconv.FormatBool(flt.InStockOnly))
}

// listFingerprint covers what a ListBooks page token is bound to.
func listFingerprint(q catalog.ListBooksQuery) *fingerprint {
	f := newFingerprint("books")
	f.add(strconv.Itoa(int(q.Order)), strconv.FormatBool(q.Descending))
	f.addFilter(q.Filter)
	return f
}

// searchFingerprint covers what a SearchBooks page token is bound to.
func searchFingerprint(q catalog.SearchBooksQuery) *fingerprint {
	f := newFingerprint("search")
	f.add(q.Query)
	f.addFilter(q.Filter)
	return f
}

// String returns the fingerprinted parts, an exact key for maps.
func (f *fingerprint) String() string { return f.b.String() }

func (f *fingerprint) sum() uint64 {
	h := fnv.New64a()
	h.Write([]byte(f.b.String()))
	return h.Sum64()
}
