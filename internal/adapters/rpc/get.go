package rpc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// GuardGetQueries answers a Connect GET request whose message is marked as
// base64 (base64=1) but is not URL-safe base64 with InvalidArgument, as the
// client's mistake it is. connect-go (v1.21) decodes that message lazily
// while reading it and reports the decoding error as Unknown (HTTP 500).
// Every other request passes through untouched.
func GuardGetQueries(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RawQuery != "" {
			q := r.URL.Query()
			if q.Get("base64") == "1" && !isBase64URL(q.Get("message")) {
				writeConnectError(w, http.StatusBadRequest, "invalid_argument", "message: is not URL-safe base64")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isBase64URL accepts what connect-go's GET decoding accepts: URL-safe
// base64, padded or not.
func isBase64URL(s string) bool {
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.URLEncoding
	}
	_, err := enc.DecodeString(s)
	return err == nil
}

// writeConnectError writes a Connect protocol unary error.
func writeConnectError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
