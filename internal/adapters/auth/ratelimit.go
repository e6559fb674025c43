package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// RateLimitConfig sets the budgets of a RateLimiter. Rates are calls per
// second per caller; a burst is how many calls a caller may make at once
// after being idle.
type RateLimitConfig struct {
	// ReadRate and ReadBurst budget the reads: methods marked
	// idempotency_level = NO_SIDE_EFFECTS. Defaults 50/s, burst 100.
	ReadRate  float64
	ReadBurst int
	// WriteRate and WriteBurst budget every other method. Defaults 10/s,
	// burst 30.
	WriteRate  float64
	WriteBurst int
	// MaxCallers bounds how many callers are tracked; beyond it the ones idle
	// longest are forgotten (their next call starts with a full bucket).
	// Default 100000, a few tens of MB at most.
	MaxCallers int
	// TrustedProxyHeader names a header (X-Forwarded-For, X-Real-IP) holding
	// the client address set by a reverse proxy in front of BookWorm. Its
	// last entry is used, the one the proxy appended. Leave it empty unless
	// such a proxy overwrites the header: clients can write any header.
	TrustedProxyHeader string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// RateLimiter is a connect.Interceptor applying token buckets per caller: per
// user (the token's subject) when signed in, per client address otherwise
// (an IPv6 client is limited per /64, what one host usually gets). Reads and
// writes have separate buckets. A call over budget fails with
// ResourceExhausted carrying a google.rpc.RetryInfo with the delay after
// which it would succeed, and a Retry-After header. Install it after the
// authorization interceptor, which identifies the caller.
type RateLimiter struct {
	cfg     RateLimitConfig
	callers *recent[string, *buckets]
}

type buckets struct {
	read, write *rate.Limiter
}

// NewRateLimiter returns a RateLimiter for cfg, defaults filled in.
func NewRateLimiter(cfg RateLimitConfig) (*RateLimiter, error) {
	if cfg.ReadRate == 0 {
		cfg.ReadRate = 50
	}
	if cfg.ReadBurst == 0 {
		cfg.ReadBurst = 100
	}
	if cfg.WriteRate == 0 {
		cfg.WriteRate = 10
	}
	if cfg.WriteBurst == 0 {
		cfg.WriteBurst = 30
	}
	if cfg.MaxCallers == 0 {
		cfg.MaxCallers = 100000
	}
	if cfg.ReadRate < 0 || cfg.WriteRate < 0 || cfg.ReadBurst < 1 || cfg.WriteBurst < 1 || cfg.MaxCallers < 1 {
		return nil, errors.New("auth: rate limits must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RateLimiter{cfg: cfg, callers: newRecent[string, *buckets](cfg.MaxCallers)}, nil
}

// Tracked returns how many callers the limiter currently remembers.
func (l *RateLimiter) Tracked() int { return l.callers.len() }

// Allow spends one call of key's read or write budget. It returns zero when
// the call may proceed, otherwise how long to wait.
func (l *RateLimiter) Allow(key string, read bool) time.Duration {
	b := l.callers.getOrCreate(key, func() *buckets {
		return &buckets{
			read:  rate.NewLimiter(rate.Limit(l.cfg.ReadRate), l.cfg.ReadBurst),
			write: rate.NewLimiter(rate.Limit(l.cfg.WriteRate), l.cfg.WriteBurst),
		}
	})
	lim := b.write
	if read {
		lim = b.read
	}
	now := l.cfg.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now) // a refused call spends nothing
	}
	return d
}

func (l *RateLimiter) check(ctx context.Context, spec connect.Spec, peer connect.Peer, header http.Header) error {
	key := l.callerKey(ctx, peer, header)
	d := l.Allow(key, spec.IdempotencyLevel == connect.IdempotencyNoSideEffects)
	if d == 0 {
		return nil
	}
	ce := connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("%w: rate limit exceeded, retry in %s", failure.ErrResourceExhausted, d.Round(time.Millisecond)))
	if detail, err := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
		ce.AddDetail(detail)
	}
	ce.Meta().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	return ce
}

// callerKey names the bucket owner: the user, or the client address.
func (l *RateLimiter) callerKey(ctx context.Context, peer connect.Peer, header http.Header) string {
	if p, ok := identity.FromContext(ctx); ok {
		return "u:" + p.Subject
	}
	return "ip:" + clientIP(peer.Addr, header, l.cfg.TrustedProxyHeader)
}

// clientIP returns the caller's address, masked to /64 for IPv6.
func clientIP(remote string, h http.Header, trusted string) string {
	addr, ok := parseAddr(remote)
	if trusted != "" {
		if values := h.Values(trusted); len(values) > 0 {
			last := values[len(values)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, ok2 := parseAddr(strings.TrimSpace(last)); ok2 {
				addr, ok = a, true
			}
		}
	}
	if !ok {
		return "unknown"
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// WrapUnary implements connect.Interceptor.
func (l *RateLimiter) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		if err := l.check(ctx, req.Spec(), req.Peer(), req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor; clients pass through.
func (l *RateLimiter) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: opening a stream
// costs one call.
func (l *RateLimiter) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := l.check(ctx, conn.Spec(), conn.Peer(), conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
