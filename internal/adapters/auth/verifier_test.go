package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

const testAudience = "bookworm"

// fixture is a verifier reading keys from a real test issuer over HTTP,
// with clocks the test controls.
type fixture struct {
	iss   *authtest.Issuer
	keys  *RemoteKeys
	v     *Verifier
	clock *fakeClock
}

func newFixture(t *testing.T, edit ...func(*VerifierConfig)) *fixture {
	t.Helper()
	iss := authtest.NewIssuer(t)
	clock := newFakeClock()
	keys := NewRemoteKeys(RemoteKeysConfig{Issuer: iss.URL, MinRefreshInterval: 30 * time.Second, Now: clock.Now})
	cfg := VerifierConfig{Issuer: iss.URL, Audience: testAudience, ClientID: "bookworm-web", Leeway: 30 * time.Second, Now: clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := NewVerifier(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, keys: keys, v: v, clock: clock}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := maps.Clone(c)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

func TestVerifyAcceptsValidTokens(t *testing.T) {
	f := newFixture(t)
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			claims := with(f.iss.Claims("alice", testAudience, "user", "admin", "user"),
				"resource_access", map[string]any{
					"bookworm-web": map[string]any{"roles": []string{"editor"}},
					"other-client": map[string]any{"roles": []string{"superuser"}},
				})
			p, err := f.v.Verify(context.Background(), f.iss.Sign(t, f.iss.Current(alg), claims))
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != "alice" || p.Email != "alice@example.test" || p.Name != "User alice" {
				t.Fatalf("principal = %+v", p)
			}
			if want := []string{"user", "admin", "editor"}; !slices.Equal(p.Roles, want) {
				t.Fatalf("roles = %v, want %v (deduplicated realm roles, then this client's roles only)", p.Roles, want)
			}
			if want := []string{"openid", "profile"}; !slices.Equal(p.Scopes, want) {
				t.Fatalf("scopes = %v, want %v", p.Scopes, want)
			}
		})
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	good := f.iss.Claims("alice", testAudience, "user")
	rsaKey, ecKey := f.iss.Current(jose.RS256), f.iss.Current(jose.ES256)
	other := authtest.NewIssuer(t)
	valid := f.iss.Sign(t, ecKey, good)
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"expired", f.iss.Sign(t, ecKey, with(good, "exp", now.Add(-time.Hour).Unix())), errExpired},
		{"expired beyond leeway", f.iss.Sign(t, ecKey, with(good, "exp", now.Add(-31*time.Second).Unix())), errExpired},
		{"not valid yet", f.iss.Sign(t, ecKey, with(good, "nbf", now.Add(time.Hour).Unix())), errNotYet},
		{"issued in the future", f.iss.Sign(t, ecKey, with(good, "iat", now.Add(time.Hour).Unix())), errNotYet},
		{"no expiry", f.iss.Sign(t, ecKey, with(good, "exp", nil)), errClaims},
		{"no subject", f.iss.Sign(t, ecKey, with(good, "sub", nil)), errClaims},
		{"wrong issuer", f.iss.Sign(t, ecKey, with(good, "iss", "https://evil.example")), errIssuer},
		{"issuer with trailing slash", f.iss.Sign(t, ecKey, with(good, "iss", f.iss.URL+"/")), errIssuer},
		{"wrong audience", f.iss.Sign(t, ecKey, with(good, "aud", "another-api")), errAudience},
		{"no audience", f.iss.Sign(t, ecKey, with(good, "aud", nil)), errAudience},
		{"keycloak ID token", f.iss.Sign(t, rsaKey, with(good, "typ", "ID")), errNotAccessToken},
		{"keycloak refresh token", f.iss.Sign(t, rsaKey, with(good, "typ", "Refresh")), errNotAccessToken},
		{"claims of the wrong type", f.iss.Sign(t, ecKey, with(good, "email", 42)), errClaims},
		{"exp of the wrong type", f.iss.Sign(t, ecKey, with(good, "exp", "tomorrow")), errClaims},
		{"alg none", authtest.AlgNone(good, ecKey.ID), errMalformed},
		{"alg none with a signature", authtest.AlgNone(good, ecKey.ID) + parts[2], errAlgorithm},
		{"HS256 keyed with the RSA public key", authtest.HMAC(good, rsaKey.ID, authtest.PublicPEM(rsaKey)), errAlgorithm},
		{"HS256 keyed with the EC public key", authtest.HMAC(good, ecKey.ID, authtest.PublicPEM(ecKey)), errAlgorithm},
		{"tampered payload", authtest.Tamper(valid, with(good, "realm_access", map[string]any{"roles": []string{"admin"}})), errSignature},
		{"bad signature", authtest.BreakSignature(valid), errSignature},
		{"RS256 header on the EC key", rs256Header(t, valid, ecKey.ID), errKey},
		{"another issuer's key", other.Token(t, jose.ES256, "alice", testAudience, "admin"), errKey},
		{"another issuer's key claiming our issuer", other.Sign(t, other.Current(jose.RS256), good), errKey},
		{"an attacker's key with our kid", authtest.SignWith(t, authtest.KeyFrom(ecKey.ID, jose.ES256, mustEC(t)), good), errSignature},
		{"embedded jwk header", embeddedJWK(t, good), errMalformed},
		{"empty", "", errMalformed},
		{"one segment", "abc", errMalformed},
		{"two segments", parts[0] + "." + parts[1], errMalformed},
		{"four segments", valid + ".abc", errMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", errMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], errMalformed},
		{"standard base64 alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", errMalformed},
		{"non-canonical last character", parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]), errMalformed},
		{"whitespace inside", parts[0] + ". " + parts[1] + "." + parts[2], errMalformed},
		{"JSON serialization", jsonSerialization(t, valid), errMalformed},
		{"garbage", "not a token at all", errMalformed},
		{"too long", valid + strings.Repeat("A", maxTokenBytes), errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tt.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, failure.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The good token itself passes, so the cases above fail for their
	// defect and nothing else.
	if _, err := f.v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	k := f.iss.Current(jose.ES256)
	good := f.iss.Claims("alice", testAudience)
	for name, claims := range map[string]map[string]any{
		"expired inside leeway":         with(good, "exp", now.Add(-20*time.Second).Unix()),
		"not valid yet inside leeway":   with(good, "nbf", now.Add(20*time.Second).Unix()),
		"issued slightly in the future": with(good, "iat", now.Add(20*time.Second).Unix()),
		"audience list with ours":       with(good, "aud", []string{"account", testAudience}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.v.Verify(context.Background(), f.iss.Sign(t, k, claims)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyCacheHonoursExpiry(t *testing.T) {
	f := newFixture(t)
	tok := f.iss.Sign(t, f.iss.Current(jose.RS256), with(f.iss.Claims("alice", testAudience), "exp", f.clock.Now().Add(time.Minute).Unix()))
	for range 2 { // verified, then from the cache
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(2 * time.Minute)
	if _, err := f.v.Verify(context.Background(), tok); err != errExpired {
		t.Fatalf("cached token after expiry: %v, want %v", err, errExpired)
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, f.iss.Token(t, jose.ES256, "alice", testAudience)); err != nil {
		t.Fatal(err)
	}
	hits := f.iss.JWKSHits()
	if hits != 1 {
		t.Fatalf("jwks fetched %d times for the first token, want 1", hits)
	}

	// A key the issuer has not published yet: refused, and the refresh it
	// triggers is the only one allowed in this interval.
	next := f.iss.NewKey(t, jose.ES256)
	early := f.iss.Sign(t, next, f.iss.Claims("alice", testAudience))
	f.clock.Advance(31 * time.Second)
	if _, err := f.v.Verify(ctx, early); err != errKey {
		t.Fatalf("unpublished key: %v, want %v", err, errKey)
	}
	if got := f.iss.JWKSHits(); got != hits+1 {
		t.Fatalf("jwks hits = %d, want %d", got, hits+1)
	}

	// Published now, but inside the interval: still refused, no fetch.
	f.iss.Publish(next)
	if _, err := f.v.Verify(ctx, early); err != errKey {
		t.Fatalf("inside the refresh interval: %v, want %v", err, errKey)
	}
	if got := f.iss.JWKSHits(); got != hits+1 {
		t.Fatalf("jwks refetched inside the interval: %d hits", got)
	}

	// After the interval the new kid triggers a refresh and is accepted.
	f.clock.Advance(31 * time.Second)
	if _, err := f.v.Verify(ctx, early); err != nil {
		t.Fatalf("rotated key after refresh: %v", err)
	}
	if got := f.iss.JWKSHits(); got != hits+2 {
		t.Fatalf("jwks hits = %d, want %d", got, hits+2)
	}

	// Rotation proper: the issuer signs with a new RS256 key too.
	f.clock.Advance(31 * time.Second)
	f.iss.Rotate(t, jose.RS256)
	if _, err := f.v.Verify(ctx, f.iss.Token(t, jose.RS256, "bob", testAudience)); err != nil {
		t.Fatalf("token of the rotated RS256 key: %v", err)
	}
}

func TestWithdrawnKeyStopsCachedTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := f.iss.Current(jose.ES256)
	tok := f.iss.Sign(t, k, f.iss.Claims("alice", testAudience))
	if _, err := f.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.iss.Unpublish(k.ID)
	f.clock.Advance(31 * time.Second)
	if err := f.keys.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, tok); err != errKey {
		t.Fatalf("token of a withdrawn key: %v, want %v", err, errKey)
	}
}

func TestRefreshIsRateLimited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.keys.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	base := f.iss.JWKSHits()
	claims := f.iss.Claims("mallory", testAudience)
	forge := func() string {
		k := f.iss.NewKey(t, jose.ES256) // never published
		return f.iss.Sign(t, k, claims)
	}
	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i] = forge()
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			if _, err := f.v.Verify(ctx, tok); err != errKey {
				t.Errorf("forged kid: %v, want %v", err, errKey)
			}
		})
	}
	wg.Wait()
	if got := f.iss.JWKSHits() - base; got != 0 {
		t.Fatalf("200 unknown kids inside the interval caused %d fetches, want 0", got)
	}
	f.clock.Advance(31 * time.Second)
	for _, tok := range tokens {
		wg.Go(func() { _, _ = f.v.Verify(ctx, tok) })
	}
	wg.Wait()
	if got := f.iss.JWKSHits() - base; got != 1 {
		t.Fatalf("200 unknown kids after the interval caused %d fetches, want exactly 1", got)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.iss.SetDown(true)
	if err := f.keys.Warm(ctx); err == nil {
		t.Fatal("Warm succeeded against a down issuer")
	}
	tok := f.iss.Token(t, jose.ES256, "alice", testAudience)
	// Inside the interval: no new attempt, and Unavailable (not
	// Unauthenticated): the token may well be good.
	_, err := f.v.Verify(ctx, tok)
	if !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("issuer down: %v, want ErrUnavailable", err)
	}
	if got := f.iss.Requests(); got != 1 {
		t.Fatalf("issuer contacted %d times, want 1 (the retry waits for the interval)", got)
	}
	f.iss.SetDown(false)
	f.clock.Advance(31 * time.Second)
	if _, err := f.v.Verify(ctx, tok); err != nil {
		t.Fatalf("issuer back: %v", err)
	}
	if f.iss.DiscoveryHits() != 1 || f.iss.JWKSHits() != 1 {
		t.Fatalf("discovery %d, jwks %d; want 1 and 1", f.iss.DiscoveryHits(), f.iss.JWKSHits())
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	iss := authtest.NewIssuer(t)
	keys := NewRemoteKeys(RemoteKeysConfig{Issuer: iss.URL + "/realms/other"})
	if err := keys.Warm(context.Background()); err == nil {
		t.Fatal("discovery at a different issuer accepted")
	}
}

func TestRoleClaimPath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		extra map[string]any
		want  []string
	}{
		{"list", "groups", map[string]any{"groups": []string{"admin", "user"}}, []string{"admin", "user"}},
		{"nested", "app.authz.roles", map[string]any{"app": map[string]any{"authz": map[string]any{"roles": []any{"admin", 7}}}}, []string{"admin"}},
		{"space-separated string", "roles", map[string]any{"roles": "user  admin"}, []string{"user", "admin"}},
		{"missing", "groups", nil, nil},
		{"wrong shape", "groups.x", map[string]any{"groups": []string{"admin"}}, nil},
		{"configured path replaces keycloak claims", "groups", map[string]any{"groups": []string{"user"}}, []string{"user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *VerifierConfig) { c.RoleClaim = tt.path })
			claims := f.iss.Claims("alice", testAudience, "realm-role")
			maps.Copy(claims, tt.extra)
			p, err := f.v.Verify(context.Background(), f.iss.Sign(t, f.iss.Current(jose.RS256), claims))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Roles, tt.want) {
				t.Fatalf("roles = %v, want %v", p.Roles, tt.want)
			}
		})
	}
}

func TestNewVerifierValidates(t *testing.T) {
	keys := NewStaticKeys()
	for name, cfg := range map[string]VerifierConfig{
		"no issuer":      {Audience: "a"},
		"no audience":    {Issuer: "https://i"},
		"huge leeway":    {Issuer: "https://i", Audience: "a", Leeway: time.Hour},
		"bad claim path": {Issuer: "https://i", Audience: "a", RoleClaim: "a..b"},
	} {
		if _, err := NewVerifier(cfg, keys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	ec := mustEC(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "good", Algorithm: "ES256", Use: "sig"},
		{Key: &ec.PublicKey, KeyID: "enc", Use: "enc"},
		{Key: &weak.PublicKey, KeyID: "weak", Algorithm: "RS256"},
		{Key: &p384.PublicKey, KeyID: "p384"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hmac", Algorithm: "HS256"},
		{Key: ec, KeyID: "private"},
	}}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	// An unparseable key is skipped too, not fatal for the set.
	body = []byte(strings.Replace(string(body), `"keys":[`, `"keys":[{"kty":"OKP","crv":"Ed448","x":"AA"},`, 1))
	keys, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.KeyID)
	}
	if !slices.Equal(ids, []string{"good"}) {
		t.Fatalf("usable keys = %v, want [good]", ids)
	}
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rs256Header re-labels a token's header as RS256, keeping the kid of an EC
// key: algorithm/key confusion.
func rs256Header(t *testing.T, token, kid string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"})
	parts[0] = base64.RawURLEncoding.EncodeToString(h)
	return strings.Join(parts, ".")
}

// embeddedJWK signs with an attacker's key and embeds that key in the
// header, hoping the verifier trusts the header's key.
func embeddedJWK(t *testing.T, claims map[string]any) string {
	t.Helper()
	k := mustEC(t)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nonCanonical changes the unused low bits of the last base64 character, so
// the segment decodes to the same bytes with a different spelling.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	if len(s)%4 == 0 {
		panic(fmt.Sprintf("segment of length %d has no unused bits", len(s)))
	}
	// The lowest bit of the last character is unused (2 or 4 bits are).
	return s[:len(s)-1] + string(alphabet[last^1])
}

func jsonSerialization(t *testing.T, token string) string {
	t.Helper()
	p := strings.Split(token, ".")
	b, _ := json.Marshal(map[string]any{"protected": p[0], "payload": p[1], "signature": p[2]})
	return string(b)
}
