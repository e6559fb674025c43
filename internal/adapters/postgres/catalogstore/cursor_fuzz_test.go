package catalogstore

import (
	"math"
	"strings"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// fuzzQuery is the fingerprint the fuzzed tokens are checked against.
const fuzzQuery = uint64(0x5eed)

// FuzzPageToken feeds any string to the catalog's page-token decoder (books,
// search, authors/categories/publishers). A token is either refused with
// InvalidArgument on page_token or decodes to a cursor every query can use:
// a real id, text without NUL, integer keys a price or a Postgres timestamp
// can be, bound to the query asked. Accepted tokens round-trip through
// encode. The seed corpus (forged, truncated, garbage, another query's
// tokens) runs in every `go test`; `go test -fuzz FuzzPageToken
// ./internal/adapters/postgres/catalogstore` explores further.
func FuzzPageToken(f *testing.F) {
	id := coreid.New()
	valid := cursor{Query: fuzzQuery, Text: "Dune", ID: id}.encode()
	raw := pgtest.RawToken
	for _, s := range []string{
		"",
		valid,
		valid[:len(valid)/2],   // truncated
		valid + "A",            // one character too many
		strings.ToUpper(valid), // mangled
		"!!!not base64!!!",
		"\x00\xff",
		cursor{Query: fuzzQuery + 1, Text: "Dune", ID: id}.encode(),          // another query's token
		cursor{Query: fuzzQuery, Text: "Du\x00ne", ID: id}.encode(),          // NUL in the key
		cursor{Query: fuzzQuery, Int: math.MaxInt64, ID: id}.encode(),        // a time no database holds
		cursor{Query: fuzzQuery, Int: math.MinInt64, ID: id}.encode(),        // nor this
		cursor{Query: fuzzQuery, Int: postgres.MaxTokenKey, ID: id}.encode(), // the largest key
		cursor{Query: fuzzQuery, Float: math.MaxFloat64, ID: id}.encode(),    // the largest relevance
		cursor{Query: fuzzQuery, Text: "x", ID: "not-an-id"}.encode(),        // a forged id
		cursor{Query: fuzzQuery, Mode: 99, ID: id}.encode(),                  // an unknown search mode (search refuses it)
		raw(`{"q":24301,"i":"` + id + `","s":"\u0000"}`),
		raw(`{"q":24301,"i":"` + id + `","n":1e300}`),
		raw(`{"q":24301,"i":"` + id + `","f":"NaN"}`),
		raw(`{"q":24301,"i":"` + id + `","s":"\xff\xfe"}`),
		raw(`{"q":24301,"i":"` + id + `","s":5}`), // wrong JSON type
		raw(`[]`),
		raw(`null`),
		raw(`{"q":-1}`),
		raw(strings.Repeat("[", 10000)),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, ok, err := decodeCursor(token, fuzzQuery)
		pgtest.CheckTokenRefusal(t, token, ok, err)
		if !ok {
			return
		}
		switch {
		case c.Query != fuzzQuery:
			t.Fatalf("%q: accepted for query %x", token, c.Query)
		case !coreid.Valid(c.ID):
			t.Fatalf("%q: accepted with id %q", token, c.ID)
		case strings.IndexByte(c.Text, 0) >= 0:
			t.Fatalf("%q: accepted with NUL in its text key", token)
		case c.Int > postgres.MaxTokenKey || c.Int < -postgres.MaxTokenKey:
			t.Fatalf("%q: accepted with integer key %d", token, c.Int)
		case math.IsNaN(c.Float) || math.IsInf(c.Float, 0):
			t.Fatalf("%q: accepted with float key %v", token, c.Float)
		}
		if back, ok, err := decodeCursor(c.encode(), fuzzQuery); err != nil || !ok || back != c {
			t.Fatalf("%q: re-encoded token reads back as %+v, %v, %v; want %+v", token, back, ok, err, c)
		}
		if _, ok, _ := decodeCursor(token, fuzzQuery+1); ok {
			t.Fatalf("%q: accepted for another query too", token)
		}
	})
}
