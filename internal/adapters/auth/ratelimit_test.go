package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/bookworm-store/bookworm/internal/core/identity"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

func newLimiter(t *testing.T, cfg RateLimitConfig) (*RateLimiter, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	cfg.Now = clock.Now
	l, err := NewRateLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

func TestRateLimitAndRecovery(t *testing.T) {
	l, clock := newLimiter(t, RateLimitConfig{Budgets: map[Tier]Budget{TierUser: {ReadRate: 2, ReadBurst: 3, WriteRate: 1, WriteBurst: 1}}})
	for i := range 3 {
		if d := l.Allow("u:alice", TierUser, true); d != 0 {
			t.Fatalf("read %d inside the burst refused (retry in %s)", i+1, d)
		}
	}
	d := l.Allow("u:alice", TierUser, true)
	if d != 500*time.Millisecond {
		t.Fatalf("read over the burst: retry in %s, want 500ms (one token at 2/s)", d)
	}
	// A refused call spends nothing: asking again at once gives the same wait.
	if d2 := l.Allow("u:alice", TierUser, true); d2 != d {
		t.Fatalf("second refusal: %s, want %s", d2, d)
	}
	// Writes have their own budget, and so does every other caller.
	if d := l.Allow("u:alice", TierUser, false); d != 0 {
		t.Fatalf("write refused after reads: %s", d)
	}
	if d := l.Allow("u:alice", TierUser, false); d != time.Second {
		t.Fatalf("second write: retry in %s, want 1s", d)
	}
	if d := l.Allow("u:bob", TierUser, true); d != 0 {
		t.Fatalf("bob limited by alice's calls: %s", d)
	}
	// Recovery: after the announced delay the call goes through, once.
	clock.Advance(500 * time.Millisecond)
	if d := l.Allow("u:alice", TierUser, true); d != 0 {
		t.Fatalf("read after waiting the delay refused: %s", d)
	}
	if d := l.Allow("u:alice", TierUser, true); d == 0 {
		t.Fatal("a second read went through on one refilled token")
	}
	// A long pause refills up to the burst, not beyond.
	clock.Advance(time.Hour)
	for i := range 3 {
		if d := l.Allow("u:alice", TierUser, true); d != 0 {
			t.Fatalf("read %d after a long pause refused", i+1)
		}
	}
	if d := l.Allow("u:alice", TierUser, true); d == 0 {
		t.Fatal("burst exceeded after a long pause")
	}
}

func TestRateLimitMemoryIsBounded(t *testing.T) {
	const callers, limit = 1_000_000, 10_000
	l, _ := newLimiter(t, RateLimitConfig{MaxCallers: limit})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range callers {
		l.Allow(fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255), TierAnonymous, i%2 == 0)
	}
	if n := l.Tracked(); n > limit || n < limit/4 {
		t.Fatalf("tracking %d callers after %d distinct ones, want at most %d (and a useful number)", n, callers, limit)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// 10k callers of two limiters each are about 3 MB; a limiter that kept
	// all million would hold hundreds.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 32<<20 {
		t.Fatalf("heap grew by %d MB for %d tracked callers", grown>>20, l.Tracked())
	}
	// An active caller survives the flood.
	l2, _ := newLimiter(t, RateLimitConfig{MaxCallers: 1000, Budgets: map[Tier]Budget{TierUser: {ReadRate: 1, ReadBurst: 1}, TierAnonymous: {ReadRate: 1, ReadBurst: 1}}})
	l2.Allow("u:steady", TierUser, true)
	for i := range 100_000 {
		l2.Allow(fmt.Sprintf("ip:%d", i), TierAnonymous, true)
		if i%100 == 0 && l2.Allow("u:steady", TierUser, true) == 0 {
			t.Fatalf("steady caller's bucket was forgotten and refilled after %d strangers", i)
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name, remote, trusted string
		header                http.Header
		want                  string
	}{
		{"ipv4", "192.0.2.7:51234", "", nil, "192.0.2.7"},
		{"ipv6 grouped per /64", "[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"ipv4-mapped ipv6", "[::ffff:192.0.2.7]:1", "", nil, "192.0.2.7"},
		{"forwarded header ignored unless trusted", "192.0.2.7:1", "", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, "192.0.2.7"},
		{"trusted header, last entry wins", "10.0.0.1:1", "X-Forwarded-For", http.Header{"X-Forwarded-For": {"203.0.113.66, 198.51.100.9"}}, "198.51.100.9"},
		{"trusted header, several lines", "10.0.0.1:1", "X-Forwarded-For", http.Header{"X-Forwarded-For": {"203.0.113.66", "198.51.100.9"}}, "198.51.100.9"},
		{"trusted header garbage falls back", "10.0.0.1:1", "X-Real-Ip", http.Header{"X-Real-Ip": {"nonsense"}}, "10.0.0.1"},
		{"unparseable peer", "pipe", "", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientIP(tt.remote, tt.header, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRateLimitInterceptor(t *testing.T) {
	f := newFixture(t)
	limiter, clock := newLimiter(t, RateLimitConfig{Budgets: map[Tier]Budget{TierAnonymous: {ReadRate: 1, ReadBurst: 2}, TierAdmin: {ReadRate: 1, ReadBurst: 2, WriteRate: 1, WriteBurst: 1}}})
	base := server(t, NewInterceptor(f.v, slog.New(slog.DiscardHandler)), limiter)
	admin := f.iss.Token(t, jose.ES256, "root", testAudience, "admin")
	get := func(token string) error {
		c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
		req := connect.NewRequest(&catalogv1.GetBookRequest{Id: "x"})
		if token != "" {
			req.Header().Set("Authorization", "Bearer "+token)
		}
		_, err := c.GetBook(context.Background(), req)
		return err
	}
	create := func(token string) error {
		c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
		req := connect.NewRequest(&catalogv1.CreateBookRequest{})
		req.Header().Set("Authorization", "Bearer "+token)
		_, err := c.CreateBook(context.Background(), req)
		return err
	}
	// Anonymous reads are limited per address (all tests come from 127.0.0.1).
	for i := range 2 {
		if err := get(""); err != nil {
			t.Fatalf("anonymous read %d: %v", i+1, err)
		}
	}
	err := get("")
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		t.Fatalf("third anonymous read: %v, want ResourceExhausted", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if r, ok := v.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != time.Second {
		t.Fatalf("RetryInfo = %v, want a 1s delay", retry)
	}
	if got := ce.Meta().Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After = %q, want 1", got)
	}
	// The signed-in admin has its own budget, separate for writes.
	if err := get(admin); err != nil {
		t.Fatalf("admin read while anonymous is limited: %v", err)
	}
	if err := create(admin); err != nil {
		t.Fatalf("admin write: %v", err)
	}
	if err := create(admin); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("second admin write: %v, want ResourceExhausted", err)
	}
	// Recovery.
	clock.Advance(time.Second)
	if err := get(""); err != nil {
		t.Fatalf("anonymous read after the delay: %v", err)
	}
	if err := create(admin); err != nil {
		t.Fatalf("admin write after the delay: %v", err)
	}
}

func TestNewRateLimiterValidates(t *testing.T) {
	for name, cfg := range map[string]RateLimitConfig{
		"negative rate":  {Budgets: map[Tier]Budget{TierUser: {ReadRate: -1}}},
		"negative burst": {Budgets: map[Tier]Budget{TierAdmin: {WriteBurst: -3}}},
		"unknown tier":   {Budgets: map[Tier]Budget{"gold": {ReadRate: 1}}},
		"infinite rate":  {Budgets: map[Tier]Budget{TierIntegration: {WriteRate: math.Inf(1)}}},
	} {
		if _, err := NewRateLimiter(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRateLimitBudgetsByTier checks that each caller gets the write budget
// of its tier (anonymous, user, admin, integration by role or by scope), that
// the RetryInfo delay is the tier's, and that the budgets recover. The caller
// is set by a stand-in for the authorization interceptor (which would refuse
// anonymous writes before they reach the limiter).
func TestRateLimitBudgetsByTier(t *testing.T) {
	limiter, clock := newLimiter(t, RateLimitConfig{Budgets: map[Tier]Budget{
		TierAnonymous:   {WriteRate: 1, WriteBurst: 1},
		TierUser:        {WriteRate: 2, WriteBurst: 2},
		TierAdmin:       {WriteRate: 4, WriteBurst: 3},
		TierIntegration: {WriteRate: 50, WriteBurst: 6},
	}})
	principals := map[string]identity.Principal{
		"user":      {Subject: "reader", Roles: []string{identity.RoleUser}},
		"admin":     {Subject: "root", Roles: []string{identity.RoleUser, identity.RoleAdmin}},
		"int-role":  {Subject: "importer-1", Roles: []string{identity.RoleAdmin, RoleIntegration}},
		"int-scope": {Subject: "importer-2", Roles: []string{identity.RoleAdmin}, Scopes: []string{"openid", ScopeIntegration}},
	}
	signIn := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if p, ok := principals[req.Header().Get("X-Test-Caller")]; ok {
				ctx = identity.WithPrincipal(ctx, p)
			}
			return next(ctx, req)
		}
	})
	base := server(t, signIn, limiter)
	tests := []struct {
		caller string
		tier   Tier
		burst  int
		refill time.Duration // the delay announced once the burst is spent
	}{
		{caller: "", tier: TierAnonymous, burst: 1, refill: time.Second},
		{caller: "user", tier: TierUser, burst: 2, refill: 500 * time.Millisecond},
		{caller: "admin", tier: TierAdmin, burst: 3, refill: 250 * time.Millisecond},
		{caller: "int-role", tier: TierIntegration, burst: 6, refill: 20 * time.Millisecond},
		{caller: "int-scope", tier: TierIntegration, burst: 6, refill: 20 * time.Millisecond},
	}
	create := func(caller string) error {
		c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
		req := connect.NewRequest(&catalogv1.CreateBookRequest{})
		req.Header().Set("X-Test-Caller", caller)
		_, err := c.CreateBook(context.Background(), req)
		return err
	}
	for _, tt := range tests {
		t.Run(string(tt.tier)+"/"+tt.caller, func(t *testing.T) {
			if got := TierOf(principals[tt.caller]); got != tt.tier {
				t.Fatalf("TierOf = %s, want %s", got, tt.tier)
			}
			passed := 0
			var err error
			for range tt.burst + 5 {
				if err = create(tt.caller); err != nil {
					break
				}
				passed++
			}
			if passed != tt.burst || connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("%d writes went through before %v, want the %s burst %d then ResourceExhausted", passed, err, tt.tier, tt.burst)
			}
			var ce *connect.Error
			errors.As(err, &ce)
			var retry *errdetails.RetryInfo
			for _, d := range ce.Details() {
				if v, err := d.Value(); err == nil {
					if r, ok := v.(*errdetails.RetryInfo); ok {
						retry = r
					}
				}
			}
			if retry == nil || retry.GetRetryDelay().AsDuration() != tt.refill {
				t.Fatalf("RetryInfo %v, want %s", retry, tt.refill)
			}
			clock.Advance(tt.refill)
			if err := create(tt.caller); err != nil {
				t.Fatalf("write after the announced %s: %v", tt.refill, err)
			}
		})
	}
	// Defaults: an integration writes far more than an admin, an anonymous
	// caller no more than a user.
	l, _ := newLimiter(t, RateLimitConfig{})
	if l.Budget(TierIntegration).WriteRate < 10*l.Budget(TierAdmin).WriteRate || l.Budget(TierAnonymous).WriteRate > l.Budget(TierUser).WriteRate {
		t.Fatalf("default budgets out of order: %+v", l.cfg.Budgets)
	}
}
