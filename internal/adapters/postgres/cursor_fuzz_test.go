package postgres

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// fuzzQuery is the fingerprint the fuzzed tokens are checked against.
const fuzzQuery = uint64(0x5eed)

// rawToken is base64url of s, a token with any content a forger likes.
func rawToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// FuzzPageToken feeds any string to the page-token decoders of every list
// (books, search, authors/categories/publishers, reviews). A token is
// either refused with InvalidArgument on page_token or decodes to a cursor
// every query can use: a real id, text without NUL, integer keys a price or
// a Postgres timestamp can be, bound to the query asked. Accepted tokens
// round-trip through encode. The seed corpus (forged, truncated, garbage,
// another query's tokens) runs in every `go test`; `go test -fuzz
// FuzzPageToken ./internal/adapters/postgres` explores further.
func FuzzPageToken(f *testing.F) {
	id := catalog.NewID()
	valid := cursor{Query: fuzzQuery, Text: "Dune", ID: id}.encode()
	seeds := []string{
		"",
		valid,
		valid[:len(valid)/2],   // truncated
		valid + "A",            // one character too many
		strings.ToUpper(valid), // mangled
		base64.StdEncoding.EncodeToString([]byte(`{"q":1}`)), // padded alphabet
		"!!!not base64!!!",
		"\x00\xff",
		cursor{Query: fuzzQuery + 1, Text: "Dune", ID: id}.encode(),                    // another query's token
		cursor{Query: fuzzQuery, Text: "Du\x00ne", ID: id}.encode(),                    // NUL in the key
		cursor{Query: fuzzQuery, Int: math.MaxInt64, ID: id}.encode(),                  // a time no database holds
		cursor{Query: fuzzQuery, Int: math.MinInt64, ID: id}.encode(),                  // nor this
		cursor{Query: fuzzQuery, Int: maxCursorKey, ID: id}.encode(),                   // the largest key
		cursor{Query: fuzzQuery, Float: math.MaxFloat64, ID: id}.encode(),              // the largest relevance
		cursor{Query: fuzzQuery, Text: "x", ID: "not-an-id"}.encode(),                  // a forged id
		cursor{Query: fuzzQuery, Mode: 99, ID: id}.encode(),                            // an unknown search mode (search refuses it)
		reviewCursor{Query: fuzzQuery, Stars: 3, Time: 1, ID: id}.encode(),             // a review token
		reviewCursor{Query: fuzzQuery, Stars: 9, Time: 1, ID: id}.encode(),             // stars out of range
		reviewCursor{Query: fuzzQuery, Stars: 1, Time: math.MinInt64, ID: id}.encode(), // a time out of range
		rawToken(`{"q":24301,"i":"` + id + `","s":"\u0000"}`),
		rawToken(`{"q":24301,"i":"` + id + `","n":1e300}`),
		rawToken(`{"q":24301,"i":"` + id + `","f":"NaN"}`),
		rawToken(`{"q":24301,"i":"` + id + `","s":"\xff\xfe"}`),
		rawToken(`{"q":24301,"i":"` + id + `","t":9223372036854775807}`),
		rawToken(`{"q":24301,"i":"` + id + `","s":5}`), // wrong JSON type
		rawToken(`[]`),
		rawToken(`null`),
		rawToken(`{"q":-1}`),
		rawToken(strings.Repeat("[", 10000)),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, ok, err := decodeCursor(token, fuzzQuery)
		checkRefusal(t, token, ok, err)
		if ok {
			switch {
			case c.Query != fuzzQuery:
				t.Fatalf("%q: accepted for query %x", token, c.Query)
			case !catalog.IsID(c.ID):
				t.Fatalf("%q: accepted with id %q", token, c.ID)
			case strings.IndexByte(c.Text, 0) >= 0:
				t.Fatalf("%q: accepted with NUL in its text key", token)
			case c.Int > maxCursorKey || c.Int < -maxCursorKey:
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
		}

		r, ok, err := decodeReviewCursor(token, fuzzQuery)
		checkRefusal(t, token, ok, err)
		if ok {
			switch {
			case r.Query != fuzzQuery || !rating.IsID(r.ID):
				t.Fatalf("%q: review token accepted as %+v", token, r)
			case r.Stars < 0 || r.Stars > rating.MaxStars:
				t.Fatalf("%q: review token accepted with %d stars", token, r.Stars)
			case r.Time > maxCursorKey || r.Time < -maxCursorKey:
				t.Fatalf("%q: review token accepted with time %d", token, r.Time)
			}
			if back, ok, err := decodeReviewCursor(r.encode(), fuzzQuery); err != nil || !ok || back != r {
				t.Fatalf("%q: re-encoded review token reads back as %+v, %v, %v", token, back, ok, err)
			}
		}
	})
}

// checkRefusal fails unless a decoder either accepted the token or refused
// it as an invalid page_token (never another kind of error).
func checkRefusal(t *testing.T, token string, ok bool, err error) {
	t.Helper()
	if err == nil {
		if !ok && token != "" {
			t.Fatalf("%q: neither accepted nor refused", token)
		}
		return
	}
	if ok {
		t.Fatalf("%q: accepted with error %v", token, err)
	}
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != "page_token" {
		t.Fatalf("%q: refused with %v, want an invalid page_token", token, err)
	}
}
