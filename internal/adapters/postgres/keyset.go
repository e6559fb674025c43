package postgres

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Args collects the parameters of a query built piece by piece and returns
// their placeholders.
type Args []any

// Add appends v and returns its placeholder ($1, $2, ...).
func (a *Args) Add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Fingerprint hashes the parts of a query that a keyset page token is bound
// to, so that a token of one query is refused by another.
type Fingerprint struct{ b strings.Builder }

// NewFingerprint starts the fingerprint of a query of kind ("books",
// "reviews", ...).
func NewFingerprint(kind string) *Fingerprint {
	f := &Fingerprint{}
	f.Add(kind)
	return f
}

// Add adds parts, each length-prefixed so that no two lists of parts read
// alike.
func (f *Fingerprint) Add(parts ...string) {
	for _, p := range parts {
		f.b.WriteString(strconv.Itoa(len(p)))
		f.b.WriteByte(':')
		f.b.WriteString(p)
	}
}

// String returns the fingerprinted parts, an exact key for maps.
func (f *Fingerprint) String() string { return f.b.String() }

// Sum is the 64-bit hash of the parts that a page token carries.
func (f *Fingerprint) Sum() uint64 {
	h := fnv.New64a()
	h.Write([]byte(f.b.String()))
	return h.Sum64()
}

// MaxTokenKey bounds the integer sort keys a page token may carry: 2^53,
// the largest amount of money in minor units, and about 285 years of
// microseconds on either side of 1970, well inside the range of a Postgres
// timestamp. A forged key beyond it is refused before it reaches a query.
const MaxTokenKey = 1 << 53

// ErrPageToken is what a client sees for a page token that is not one of
// its query.
var ErrPageToken = failure.Invalid("page_token", "is not a page token of this query")

// EncodeToken returns the opaque page token of cursor, a struct of strings
// and numbers: base64url of its JSON. JSON writes a float64 in the shortest
// form that reads back to the same bits, which keyset comparisons on a
// float key need.
func EncodeToken(cursor any) string {
	b, err := json.Marshal(cursor)
	if err != nil {
		panic(err) // a struct of strings and numbers always marshals
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken reads token into cursor; ErrPageToken when it is not a token.
func DecodeToken(token string, cursor any) error {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(b, cursor) != nil {
		return ErrPageToken
	}
	return nil
}
