package auth

import (
	"net/http"
	"slices"
	"strings"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
)

// CORS wraps h so that browsers on allowedOrigins may call it with the
// Connect and gRPC-Web protocols and a bearer token. With no origins it
// returns h unchanged: no cross-origin access at all. "*" allows every
// origin, which is safe here because BookWorm authenticates with the
// Authorization header, never with cookies.
func CORS(h http.Handler, allowedOrigins []string) http.Handler {
	if len(allowedOrigins) == 0 {
		return h
	}
	c := cors.New(cors.Options{
		AllowedOrigins: allowedOrigins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: append(connectcors.ExposedHeaders(), "Retry-After", "WWW-Authenticate"),
		MaxAge:         int((2 * time.Hour).Seconds()),
	})
	return normalizePreflight(c.Handler(h))
}

// maxRequestedHeaders bounds how many names a preflight may list; a longer
// list is passed on untouched, and rs/cors refuses it.
const maxRequestedHeaders = 64

// normalizePreflight rewrites the Access-Control-Request-Headers of a
// preflight as the Fetch standard says browsers send it: names in lower
// case, sorted, each once, separated by commas without spaces.
//
// rs/cors (since v1.11.0) accepts the list only in that exact form: it
// walks the names expecting strictly increasing positions in its sorted
// set of allowed names, so "content-type,authorization", "Content-Type",
// a duplicate, or more than one space around a comma makes it answer the
// preflight without Access-Control-Allow-Origin, and the browser then
// blocks the call. Clients and proxies other than browsers (and some
// gateways that split or re-join the header) do send such lists; the set
// of names is what matters, so it is normalized before rs/cors sees it.
func normalizePreflight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, ok := r.Header["Access-Control-Request-Headers"]
		if ok && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if norm, ok := normalizeHeaderList(values); ok {
				r = r.Clone(r.Context())
				r.Header["Access-Control-Request-Headers"] = []string{norm}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// normalizeHeaderList returns the header names of values (comma-separated
// lists, possibly in several header lines) lower-cased, sorted and
// deduplicated. It reports false for a list too long to be a real one.
func normalizeHeaderList(values []string) (string, bool) {
	var names []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.Trim(name, " \t"))
			if name == "" {
				continue
			}
			if len(names) == maxRequestedHeaders {
				return "", false
			}
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ","), true
}
