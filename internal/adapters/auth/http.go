package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// AuthenticateHTTP applies the Interceptor's "public" rule to a plain HTTP
// handler (one that is no Connect service, such as the MCP endpoint):
// anyone may call, and a caller who sends a token is that token's
// principal, put into the request's context for next and the core. A
// token that is sent must be valid: a malformed Authorization header or a
// token the verifier refuses is 401 with a WWW-Authenticate challenge,
// never served as anonymous; while the issuer's keys cannot be fetched it
// is 503 with Retry-After.
func AuthenticateHTTP(v TokenVerifier, log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, sent, err := bearer(r.Header)
		if !sent {
			next.ServeHTTP(w, r)
			return
		}
		var p identity.Principal
		if err == nil {
			p, err = v.Verify(r.Context(), raw)
		}
		switch {
		case err == nil:
			next.ServeHTTP(w, r.WithContext(identity.WithPrincipal(r.Context(), p)))
		case errors.Is(err, failure.ErrUnavailable):
			log.WarnContext(r.Context(), "cannot verify token", slog.String("path", r.URL.Path), slog.Any("error", err))
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot verify tokens right now, retry later", http.StatusServiceUnavailable)
		case r.Context().Err() != nil:
			// The client went away; nobody reads an answer.
		default:
			log.DebugContext(r.Context(), "unauthenticated", slog.String("path", r.URL.Path), slog.Any("reason", err))
			w.Header().Set("WWW-Authenticate", `Bearer realm="bookworm", error="invalid_token"`)
			if !errors.Is(err, failure.ErrUnauthenticated) {
				err = fmt.Errorf("%w: %w", failure.ErrUnauthenticated, err)
			}
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
}

// LimitHTTP spends one read call of the caller's budget for each request
// to next, the caller being the principal AuthenticateHTTP put into the
// context, or the client address. A request over budget is 429 with a
// Retry-After header, before next runs.
func (l *RateLimiter) LimitHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, tier := l.caller(r.Context(), connect.Peer{Addr: r.RemoteAddr}, r.Header)
		if d := l.Allow(key, tier, true); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			http.Error(w, "rate limit exceeded, retry in "+d.Round(time.Millisecond).String(), http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
