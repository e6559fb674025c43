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

// Tier names a rate budget. A caller's tier comes from its token: the
// highest one its roles (or scopes) reach.
type Tier string

// The tiers, from the smallest budget to the largest.
const (
	// TierAnonymous is a caller without a token, limited per client address.
	TierAnonymous Tier = "anonymous"
	// TierUser is a signed-in caller without a larger tier.
	TierUser Tier = "user"
	// TierAdmin is a caller with the admin role.
	TierAdmin Tier = "admin"
	// TierIntegration is a reseller's or partner's bulk job: a caller with
	// the integration role or scope. It is a budget, not a permission: what
	// the caller may do still comes from its other roles (an importer
	// writing the catalog needs admin as well).
	TierIntegration Tier = "integration"
)

// Tiers lists every tier, smallest budget first.
var Tiers = []Tier{TierAnonymous, TierUser, TierAdmin, TierIntegration}

// RoleIntegration is the role (Keycloak realm or client role) that puts a
// caller in TierIntegration.
const RoleIntegration = "integration"

// ScopeIntegration is the OAuth scope that puts a caller in TierIntegration,
// for issuers that grant scopes to machine clients rather than roles.
const ScopeIntegration = "bookworm.integration"

// Budget is what one caller of a tier may spend. Rates are calls per second;
// a burst is how many calls a caller may make at once after being idle.
type Budget struct {
	// ReadRate and ReadBurst budget the reads: methods marked
	// idempotency_level = NO_SIDE_EFFECTS.
	ReadRate  float64
	ReadBurst int
	// WriteRate and WriteBurst budget every other method.
	WriteRate  float64
	WriteBurst int
}

// DefaultBudgets are the budgets of each tier when the configuration leaves
// them out. Anonymous callers share an address (an office behind NAT), so
// their reads get as much as a user's; their writes are refused by the
// access rules anyway and need little. An integration gets twenty times a
// user's writes: a catalogue import of 100,000 books takes under an hour.
var DefaultBudgets = map[Tier]Budget{
	TierAnonymous:   {ReadRate: 50, ReadBurst: 100, WriteRate: 5, WriteBurst: 10},
	TierUser:        {ReadRate: 50, ReadBurst: 100, WriteRate: 10, WriteBurst: 30},
	TierAdmin:       {ReadRate: 100, ReadBurst: 200, WriteRate: 20, WriteBurst: 60},
	TierIntegration: {ReadRate: 200, ReadBurst: 400, WriteRate: 200, WriteBurst: 500},
}

// withDefaults fills the zero fields of b from def.
func (b Budget) withDefaults(def Budget) Budget {
	if b.ReadRate == 0 {
		b.ReadRate = def.ReadRate
	}
	if b.ReadBurst == 0 {
		b.ReadBurst = def.ReadBurst
	}
	if b.WriteRate == 0 {
		b.WriteRate = def.WriteRate
	}
	if b.WriteBurst == 0 {
		b.WriteBurst = def.WriteBurst
	}
	return b
}

// Validate reports a budget that is not positive.
func (b Budget) Validate() error {
	if !(b.ReadRate > 0) || !(b.WriteRate > 0) || math.IsInf(b.ReadRate, 0) || math.IsInf(b.WriteRate, 0) ||
		b.ReadBurst < 1 || b.WriteBurst < 1 {
		return errors.New("rates and bursts must be positive numbers")
	}
	return nil
}

// RateLimitConfig sets the budgets of a RateLimiter.
type RateLimitConfig struct {
	// Budgets are the budgets per tier; a missing tier or a zero field
	// takes its value from DefaultBudgets.
	Budgets map[Tier]Budget
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
// (an IPv6 client is limited per /64, what one host usually gets). The
// buckets' sizes are the budget of the caller's tier (see TierOf). Reads and
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
	budgets := make(map[Tier]Budget, len(Tiers))
	for tier, b := range cfg.Budgets {
		if _, ok := DefaultBudgets[tier]; !ok {
			return nil, fmt.Errorf("auth: unknown rate limit tier %q", tier)
		}
		if b.ReadRate < 0 || b.WriteRate < 0 || b.ReadBurst < 0 || b.WriteBurst < 0 {
			return nil, fmt.Errorf("auth: rate limits of %s: must be positive", tier)
		}
	}
	for _, tier := range Tiers {
		b := cfg.Budgets[tier].withDefaults(DefaultBudgets[tier])
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("auth: rate limits of %s: %w", tier, err)
		}
		budgets[tier] = b
	}
	cfg.Budgets = budgets
	if cfg.MaxCallers == 0 {
		cfg.MaxCallers = 100000
	}
	if cfg.MaxCallers < 1 {
		return nil, errors.New("auth: max callers must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RateLimiter{cfg: cfg, callers: newRecent[string, *buckets](cfg.MaxCallers)}, nil
}

// Budget returns the budget the limiter applies to tier.
func (l *RateLimiter) Budget(tier Tier) Budget { return l.cfg.Budgets[tier] }

// Tracked returns how many callers the limiter currently remembers.
func (l *RateLimiter) Tracked() int { return l.callers.len() }

// TierOf returns the tier of a caller: anonymous without a principal, else
// the largest tier its roles and scopes reach.
func TierOf(p identity.Principal) Tier {
	switch {
	case !p.Authenticated():
		return TierAnonymous
	case p.HasRole(RoleIntegration) || p.HasScope(ScopeIntegration):
		return TierIntegration
	case p.HasRole(identity.RoleAdmin):
		return TierAdmin
	default:
		return TierUser
	}
}

// Allow spends one call of key's read or write budget, key being in tier.
// It returns zero when the call may proceed, otherwise how long to wait.
func (l *RateLimiter) Allow(key string, tier Tier, read bool) time.Duration {
	budget, ok := l.cfg.Budgets[tier]
	if !ok {
		budget = l.cfg.Budgets[TierAnonymous]
	}
	// The tier is part of the key: a caller whose token gains or loses a
	// role starts with the buckets of its new tier.
	b := l.callers.getOrCreate(string(tier)+"|"+key, func() *buckets {
		return &buckets{
			read:  rate.NewLimiter(rate.Limit(budget.ReadRate), budget.ReadBurst),
			write: rate.NewLimiter(rate.Limit(budget.WriteRate), budget.WriteBurst),
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
	key, tier := l.caller(ctx, peer, header)
	d := l.Allow(key, tier, spec.IdempotencyLevel == connect.IdempotencyNoSideEffects)
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

// caller names the bucket owner (the user, or the client address) and its
// tier.
func (l *RateLimiter) caller(ctx context.Context, peer connect.Peer, header http.Header) (string, Tier) {
	if p, ok := identity.FromContext(ctx); ok {
		return "u:" + p.Subject, TierOf(p)
	}
	return "ip:" + clientIP(peer.Addr, header, l.cfg.TrustedProxyHeader), TierAnonymous
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
