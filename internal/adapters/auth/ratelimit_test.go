package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

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
	l, clock := newLimiter(t, RateLimitConfig{ReadRate: 2, ReadBurst: 3, WriteRate: 1, WriteBurst: 1})
	for i := range 3 {
		if d := l.Allow("u:alice", true); d != 0 {
			t.Fatalf("read %d inside the burst refused (retry in %s)", i+1, d)
		}
	}
	d := l.Allow("u:alice", true)
	if d != 500*time.Millisecond {
		t.Fatalf("read over the burst: retry in %s, want 500ms (one token at 2/s)", d)
	}
	// A refused call spends nothing: asking again at once gives the same wait.
	if d2 := l.Allow("u:alice", true); d2 != d {
		t.Fatalf("second refusal: %s, want %s", d2, d)
	}
	// Writes have their own budget, and so does every other caller.
	if d := l.Allow("u:alice", false); d != 0 {
		t.Fatalf("write refused after reads: %s", d)
	}
	if d := l.Allow("u:alice", false); d != time.Second {
		t.Fatalf("second write: retry in %s, want 1s", d)
	}
	if d := l.Allow("u:bob", true); d != 0 {
		t.Fatalf("bob limited by alice's calls: %s", d)
	}
	// Recovery: after the announced delay the call goes through, once.
	clock.Advance(500 * time.Millisecond)
	if d := l.Allow("u:alice", true); d != 0 {
		t.Fatalf("read after waiting the delay refused: %s", d)
	}
	if d := l.Allow("u:alice", true); d == 0 {
		t.Fatal("a second read went through on one refilled token")
	}
	// A long pause refills up to the burst, not beyond.
	clock.Advance(time.Hour)
	for i := range 3 {
		if d := l.Allow("u:alice", true); d != 0 {
			t.Fatalf("read %d after a long pause refused", i+1)
		}
	}
	if d := l.Allow("u:alice", true); d == 0 {
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
		l.Allow(fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255), i%2 == 0)
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
	l2, _ := newLimiter(t, RateLimitConfig{MaxCallers: 1000, ReadRate: 1, ReadBurst: 1})
	l2.Allow("u:steady", true)
	for i := range 100_000 {
		l2.Allow(fmt.Sprintf("ip:%d", i), true)
		if i%100 == 0 && l2.Allow("u:steady", true) == 0 {
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
	limiter, clock := newLimiter(t, RateLimitConfig{ReadRate: 1, ReadBurst: 2, WriteRate: 1, WriteBurst: 1})
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
		"negative rate":  {ReadRate: -1},
		"negative burst": {WriteBurst: -3},
	} {
		if _, err := NewRateLimiter(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
