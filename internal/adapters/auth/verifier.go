package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// VerifierConfig says which tokens to accept and how to read them.
type VerifierConfig struct {
	// Issuer must equal the token's "iss" exactly.
	Issuer string
	// Audience must be one of the token's "aud" values. Keycloak puts the
	// client id there only with an audience mapper; see docs/auth.md.
	Audience string
	// ClientID selects resource_access.<ClientID>.roles (Keycloak client
	// roles) in addition to realm_access.roles. Optional.
	ClientID string
	// RoleClaim, when set, is the dot-separated path of the claim holding the
	// roles (a list of strings or one space-separated string), read instead
	// of Keycloak's realm_access/resource_access.
	RoleClaim string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default 30 s;
	// at most 5 min.
	Leeway time.Duration
	// CacheSize bounds how many verified tokens are remembered, so a client
	// sending the same token again costs a hash and a map lookup instead of
	// a signature check. Default 10000.
	CacheSize int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks bearer tokens and turns valid ones into Principals.
// It accepts only compact JWS tokens signed with RS256 or ES256 by a key of
// its KeySource, issued by the configured issuer for the configured
// audience, and inside their validity window; everything else is an error
// wrapping failure.ErrUnauthenticated (or failure.ErrUnavailable when the
// issuer's keys cannot be loaded at all).
type Verifier struct {
	cfg      VerifierConfig
	keys     KeySource
	rolePath []string
	cache    *recent[[sha256.Size]byte, verified]
}

type verified struct {
	p        identity.Principal
	exp, nbf time.Time
	gen      uint64
}

// acceptedAlgs are the only signature algorithms a token may use. HMAC is
// absent on purpose: a public key must never be usable as a shared secret.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// maxTokenBytes bounds the token before any parsing.
const maxTokenBytes = 16 << 10

// NewVerifier returns a Verifier reading keys from keys.
func NewVerifier(cfg VerifierConfig, keys KeySource) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: issuer is required")
	}
	if cfg.Audience == "" {
		return nil, errors.New("auth: audience is required")
	}
	if keys == nil {
		return nil, errors.New("auth: key source is required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, fmt.Errorf("auth: leeway %s outside 0..5m", cfg.Leeway)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg, keys: keys, cache: newRecent[[sha256.Size]byte, verified](cfg.CacheSize)}
	if cfg.RoleClaim != "" {
		v.rolePath = strings.Split(cfg.RoleClaim, ".")
		if slices.Contains(v.rolePath, "") {
			return nil, fmt.Errorf("auth: bad role claim path %q", cfg.RoleClaim)
		}
	}
	return v, nil
}

// Client-safe reasons. They say what is wrong with the token, never what the
// server expected (no issuer URL, no audience, no key ids).
var (
	errMalformed      = unauthenticated("malformed token")
	errAlgorithm      = unauthenticated("token algorithm not accepted")
	errSignature      = unauthenticated("token signature invalid")
	errKey            = unauthenticated("token signed by an unknown key")
	errExpired        = unauthenticated("token expired")
	errNotYet         = unauthenticated("token not valid yet")
	errIssuer         = unauthenticated("token issuer not accepted")
	errAudience       = unauthenticated("token audience not accepted")
	errClaims         = unauthenticated("token claims invalid")
	errNotAccessToken = unauthenticated("not an access token")
)

func unauthenticated(msg string) error {
	return fmt.Errorf("%w: %s", failure.ErrUnauthenticated, msg)
}

// Verify checks raw (the token without "Bearer ") and returns its caller.
func (v *Verifier) Verify(ctx context.Context, raw string) (identity.Principal, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return identity.Principal{}, errMalformed
	}
	now := v.cfg.Now()
	sum := sha256.Sum256([]byte(raw))
	gen := v.keys.Generation()
	if c, ok := v.cache.get(sum); ok && c.gen == gen {
		if err := v.window(now, c.exp, c.nbf); err != nil {
			return identity.Principal{}, err
		}
		return c.p, nil
	}
	p, exp, nbf, err := v.verify(ctx, raw, now)
	if err != nil {
		return identity.Principal{}, err
	}
	v.cache.set(sum, verified{p: p, exp: exp, nbf: nbf, gen: gen})
	return p, nil
}

func (v *Verifier) window(now, exp, nbf time.Time) error {
	if now.Add(-v.cfg.Leeway).After(exp) {
		return errExpired
	}
	if !nbf.IsZero() && now.Add(v.cfg.Leeway).Before(nbf) {
		return errNotYet
	}
	return nil
}

// claims is what BookWorm reads from a token.
type claims struct {
	jwt.Claims
	Email          string            `json:"email"`
	Name           string            `json:"name"`
	Scope          any               `json:"scope"`
	Typ            string            `json:"typ"`
	RealmAccess    access            `json:"realm_access"`
	ResourceAccess map[string]access `json:"resource_access"`
}

// access is Keycloak's role container.
type access struct {
	Roles []string `json:"roles"`
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (identity.Principal, time.Time, time.Time, error) {
	var zero identity.Principal
	if err := canonical(raw); err != nil {
		return zero, time.Time{}, time.Time{}, err
	}
	tok, err := jwt.ParseSigned(raw, acceptedAlgs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return zero, time.Time{}, time.Time{}, errAlgorithm
		}
		return zero, time.Time{}, time.Time{}, errMalformed
	}
	if len(tok.Headers) != 1 {
		return zero, time.Time{}, time.Time{}, errMalformed
	}
	h := tok.Headers[0]
	if h.JSONWebKey != nil || h.ExtraHeaders[jose.HeaderKey("crit")] != nil || h.ExtraHeaders[jose.HeaderKey("b64")] != nil ||
		h.ExtraHeaders[jose.HeaderKey("jku")] != nil || h.ExtraHeaders[jose.HeaderKey("x5u")] != nil {
		// Headers that would make the token choose its own key or change
		// what is signed: never honoured, so never accepted.
		return zero, time.Time{}, time.Time{}, errMalformed
	}
	keys, err := v.keys.Keys(ctx, h.KeyID)
	if err != nil {
		if errors.Is(err, failure.ErrUnavailable) || ctx.Err() != nil {
			return zero, time.Time{}, time.Time{}, err
		}
		return zero, time.Time{}, time.Time{}, errKey
	}
	var c claims
	var all map[string]any
	dest := []any{&c}
	if v.rolePath != nil {
		dest = append(dest, &all)
	}
	checked := false
	for _, k := range keys {
		if !fits(k, h.Algorithm) {
			continue
		}
		checked = true
		if err := tok.Claims(k.Key, dest...); err == nil {
			return v.accept(&c, all, now)
		} else if !errors.Is(err, jose.ErrCryptoFailure) {
			// The signature held but the payload is not our JSON.
			return zero, time.Time{}, time.Time{}, errClaims
		}
	}
	if !checked {
		return zero, time.Time{}, time.Time{}, errKey
	}
	return zero, time.Time{}, time.Time{}, errSignature
}

func (v *Verifier) accept(c *claims, all map[string]any, now time.Time) (identity.Principal, time.Time, time.Time, error) {
	var zero identity.Principal
	fail := func(err error) (identity.Principal, time.Time, time.Time, error) {
		return zero, time.Time{}, time.Time{}, err
	}
	if c.Expiry == nil {
		return fail(errClaims) // a bearer token that never expires is not accepted
	}
	switch err := c.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience{v.cfg.Audience}, Time: now}, v.cfg.Leeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return fail(errIssuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return fail(errAudience)
	case errors.Is(err, jwt.ErrExpired):
		return fail(errExpired)
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return fail(errNotYet)
	default:
		return fail(errClaims)
	}
	if c.Subject == "" {
		return fail(errClaims)
	}
	// Keycloak marks its ID and refresh tokens in "typ"; only access tokens
	// ("Bearer") may call the API.
	if c.Typ != "" && !strings.EqualFold(c.Typ, "Bearer") {
		return fail(errNotAccessToken)
	}
	p := identity.Principal{Subject: c.Subject, Email: c.Email, Name: c.Name, Scopes: words(c.Scope)}
	p.Roles = v.roles(c, all)
	var nbf time.Time
	if c.NotBefore != nil {
		nbf = c.NotBefore.Time()
	}
	return p, c.Expiry.Time(), nbf, nil
}

// roles reads the roles from the configured claim, or from Keycloak's realm
// roles plus the client roles of ClientID. A claim of the wrong shape gives
// no roles rather than an error: the token is genuine, it just grants
// nothing here.
func (v *Verifier) roles(c *claims, all map[string]any) []string {
	if v.rolePath == nil {
		roles := slices.Clone(c.RealmAccess.Roles)
		if v.cfg.ClientID != "" {
			roles = append(roles, c.ResourceAccess[v.cfg.ClientID].Roles...)
		}
		return dedupe(roles)
	}
	var node any = all
	for _, name := range v.rolePath {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[name]
	}
	return words(node)
}

func dedupe(s []string) []string {
	out := s[:0]
	for _, x := range s {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// words reads a claim that is either a space-separated string or a list of
// strings.
func words(v any) []string {
	switch x := v.(type) {
	case string:
		return dedupe(strings.Fields(x))
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return dedupe(out)
	}
	return nil
}

// canonical rejects tokens that are not exactly three non-empty segments of
// canonical unpadded base64url. Without it, a token with a flipped unused
// bit in its last character would decode to the same bytes and pass as a
// second spelling of the same valid token.
func canonical(raw string) error {
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	if first <= 0 || last == first || last == len(raw)-1 || strings.Count(raw, ".") != 2 {
		return errMalformed
	}
	for _, seg := range []string{raw[:first], raw[first+1 : last], raw[last+1:]} {
		if _, err := strictB64.DecodeString(seg); err != nil {
			return errMalformed
		}
	}
	return nil
}

var strictB64 = base64.RawURLEncoding.Strict()
