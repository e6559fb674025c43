package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// whoami answers the caller its handler sees.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, _ := identity.FromContext(r.Context())
	_, _ = io.WriteString(w, p.String())
})

func post(t *testing.T, url string, authorization ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(body)), res.Header
}

func TestAuthenticateHTTP(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(AuthenticateHTTP(f.v, nil, whoami))
	t.Cleanup(srv.Close)
	user := f.iss.Token(t, jose.ES256, "alice", testAudience, "user")
	other := authtest.NewIssuer(t).Token(t, jose.ES256, "mallory", testAudience, "admin")

	for _, tc := range []struct {
		name   string
		auth   []string
		status int
		body   string
	}{
		{"no token is anonymous", nil, http.StatusOK, "anonymous"},
		{"a valid token is its user", []string{"Bearer " + user}, http.StatusOK, "user:alice"},
		{"a broken signature is refused", []string{"Bearer " + authtest.BreakSignature(user)}, http.StatusUnauthorized, ""},
		{"another issuer's token is refused", []string{"Bearer " + other}, http.StatusUnauthorized, ""},
		{"another scheme is refused", []string{"Basic YWxpY2U6c2VjcmV0"}, http.StatusUnauthorized, ""},
		{"an empty bearer is refused", []string{"Bearer "}, http.StatusUnauthorized, ""},
		{"two headers are refused", []string{"Bearer " + user, "Bearer " + user}, http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := post(t, srv.URL, tc.auth...)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if status == http.StatusOK && body != tc.body {
				t.Fatalf("handler saw %q, want %q", body, tc.body)
			}
			if status == http.StatusUnauthorized {
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") || !strings.HasPrefix(body, "unauthenticated:") {
					t.Fatalf("401 without a Bearer challenge or reason: %q, %q", h.Get("WWW-Authenticate"), body)
				}
				if strings.Contains(body, "anonymous") {
					t.Fatal("the handler ran for a refused token")
				}
			}
		})
	}

	// Keys that cannot be fetched are the server's problem, not the token's.
	down := newFixture(t)
	down.iss.SetDown(true)
	downSrv := httptest.NewServer(AuthenticateHTTP(down.v, nil, whoami))
	t.Cleanup(downSrv.Close)
	tok := down.iss.Token(t, jose.ES256, "bob", testAudience, "user")
	if status, body, h := post(t, downSrv.URL, "Bearer "+tok); status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("issuer down: status %d (%s), Retry-After %q; want 503 with Retry-After", status, body, h.Get("Retry-After"))
	}
}

func TestLimitHTTP(t *testing.T) {
	f := newFixture(t)
	l, _ := newLimiter(t, RateLimitConfig{Budgets: map[Tier]Budget{
		TierAnonymous: {ReadRate: 1, ReadBurst: 2}, TierUser: {ReadRate: 1, ReadBurst: 3},
	}})
	srv := httptest.NewServer(AuthenticateHTTP(f.v, nil, l.LimitHTTP(whoami)))
	t.Cleanup(srv.Close)
	user := "Bearer " + f.iss.Token(t, jose.ES256, "alice", testAudience, "user")

	for i := range 2 {
		if status, body, _ := post(t, srv.URL); status != http.StatusOK {
			t.Fatalf("anonymous request %d inside the burst: %d %s", i+1, status, body)
		}
	}
	status, body, h := post(t, srv.URL)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "1" {
		t.Fatalf("anonymous request over the burst: %d %s, Retry-After %q; want 429 with Retry-After 1", status, body, h.Get("Retry-After"))
	}
	// The signed-in caller has a budget of their own, not the address's.
	for i := range 3 {
		if status, body, _ := post(t, srv.URL, user); status != http.StatusOK || body != "user:alice" {
			t.Fatalf("user request %d: %d %s", i+1, status, body)
		}
	}
	if status, _, _ := post(t, srv.URL, user); status != http.StatusTooManyRequests {
		t.Fatalf("user request over the burst: %d, want 429", status)
	}
}
