package auth

import (
	"net/http"
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
	return c.Handler(h)
}
