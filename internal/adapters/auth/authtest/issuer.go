// Package authtest is an OIDC issuer for tests: a real HTTP server serving a
// discovery document and a JWKS, with signing keys the test controls
// (RS256 and ES256, rotation, keys not yet published) and helpers that forge
// the bad tokens a verifier must refuse.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a signing key of the issuer; published or not.
type Key struct {
	ID   string
	Alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// KeyFrom wraps a private key the test made itself, for example an
// attacker's key claiming the id of a genuine one.
func KeyFrom(id string, alg jose.SignatureAlgorithm, priv crypto.Signer) Key {
	return Key{ID: id, Alg: alg, priv: priv}
}

// Public returns the public key.
func (k Key) Public() crypto.PublicKey { return k.priv.Public() }

// Issuer is a running test issuer. Its URL is the issuer identifier.
type Issuer struct {
	URL string

	srv           *httptest.Server
	mu            sync.Mutex
	published     []Key
	current       map[jose.SignatureAlgorithm]Key
	jwksHits      atomic.Int64
	discoveryHits atomic.Int64
	requests      atomic.Int64
	down          atomic.Bool
}

// Requests returns how many requests reached the issuer, down or not.
func (i *Issuer) Requests() int64 { return i.requests.Load() }

// SetDown makes the issuer answer 503 to everything (true) or serve again.
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

// NewIssuer starts an issuer with one published RS256 and one ES256 key;
// it stops at the end of the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	i, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(i.Close)
	return i
}

// Start starts an issuer outside of a test (in TestMain, say); Close stops
// it.
func Start() (*Issuer, error) {
	i := &Issuer{current: map[jose.SignatureAlgorithm]Key{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		i.discoveryHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		i.jwksHits.Add(1)
		i.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range i.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"})
		}
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.requests.Add(1)
		if i.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	i.URL = i.srv.URL
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		k, err := GenerateKey(alg)
		if err != nil {
			i.srv.Close()
			return nil, err
		}
		i.Publish(k)
		i.current[alg] = k
	}
	return i, nil
}

// Close stops the issuer.
func (i *Issuer) Close() { i.srv.Close() }

// JWKSHits returns how many times the JWKS was fetched.
func (i *Issuer) JWKSHits() int64 { return i.jwksHits.Load() }

// DiscoveryHits returns how many times the discovery document was fetched.
func (i *Issuer) DiscoveryHits() int64 { return i.discoveryHits.Load() }

// NewKey makes a key with a fresh random id, not yet published.
func (i *Issuer) NewKey(t testing.TB, alg jose.SignatureAlgorithm) Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// GenerateKey makes an RS256 (2048 bits) or ES256 key with a random id.
func GenerateKey(alg jose.SignatureAlgorithm) (Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return Key{}, fmt.Errorf("authtest: unsupported algorithm %s", alg)
	}
	if err != nil {
		return Key{}, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return Key{ID: fmt.Sprintf("%s-%x", strings.ToLower(string(alg)), id), Alg: alg, priv: priv}, nil
}

// Publish adds k to the JWKS.
func (i *Issuer) Publish(k Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = append(i.published, k)
}

// Unpublish removes the key with id from the JWKS.
func (i *Issuer) Unpublish(id string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = slices.DeleteFunc(i.published, func(k Key) bool { return k.ID == id })
}

// Rotate makes a new key of alg, publishes it and signs with it from now on.
func (i *Issuer) Rotate(t testing.TB, alg jose.SignatureAlgorithm) Key {
	t.Helper()
	k := i.NewKey(t, alg)
	i.Publish(k)
	i.mu.Lock()
	i.current[alg] = k
	i.mu.Unlock()
	return k
}

// Current returns the key signing alg tokens.
func (i *Issuer) Current(alg jose.SignatureAlgorithm) Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current[alg]
}

// Claims returns the claims of a valid access token for sub and audience
// with roles as Keycloak realm roles, valid from a minute ago for an hour.
func (i *Issuer) Claims(sub, audience string, roles ...string) map[string]any {
	now := time.Now()
	if roles == nil {
		roles = []string{}
	}
	return map[string]any{
		"iss":          i.URL,
		"sub":          sub,
		"aud":          audience,
		"iat":          now.Add(-time.Minute).Unix(),
		"nbf":          now.Add(-time.Minute).Unix(),
		"exp":          now.Add(time.Hour).Unix(),
		"typ":          "Bearer",
		"email":        sub + "@example.test",
		"name":         "User " + sub,
		"scope":        "openid profile",
		"realm_access": map[string]any{"roles": roles},
	}
}

// Token signs a valid access token (see Claims) with the current alg key.
func (i *Issuer) Token(t testing.TB, alg jose.SignatureAlgorithm, sub, audience string, roles ...string) string {
	t.Helper()
	return i.Sign(t, i.Current(alg), i.Claims(sub, audience, roles...))
}

// Sign signs claims with k, naming k.ID in the header.
func (i *Issuer) Sign(t testing.TB, k Key, claims map[string]any) string {
	t.Helper()
	return SignWith(t, k, claims)
}

// SignWith signs claims with k, naming k.ID in the header.
func SignWith(t testing.TB, k Key, claims map[string]any) string {
	t.Helper()
	s, err := Sign(k, claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sign signs claims with k, naming k.ID in the header; for use outside a
// test.
func Sign(k Key, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.ID))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AlgNone returns an unsigned token ("alg": "none") carrying claims.
func AlgNone(claims map[string]any, kid string) string {
	return seg(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + seg(claims) + "."
}

// HMAC returns claims signed with HS256 under secret: with the issuer's
// public key as the secret this is the classic key-confusion attack.
func HMAC(claims map[string]any, kid string, secret []byte) string {
	signing := seg(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + seg(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// PublicPEM returns k's public key in PEM, the secret an HMAC confusion
// attack would use.
func PublicPEM(k Key) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Tamper replaces the payload of a signed token with claims, keeping its
// header and signature.
func Tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	parts[1] = seg(claims)
	return strings.Join(parts, ".")
}

// BreakSignature flips one bit in the token's signature, keeping the
// encoding canonical.
func BreakSignature(token string) string {
	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x01
	parts[2] = base64.RawURLEncoding.EncodeToString(sig)
	return strings.Join(parts, ".")
}
