package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// KeySource finds the public keys that may have signed a token.
//
// Keys must be safe for concurrent use and cheap when the key is known: the
// verifier calls it on every token it has not seen before.
type KeySource interface {
	// Keys returns the candidate keys for a token whose header names kid
	// (every key when kid is empty). A source that can refresh does so when
	// kid is unknown, within its own rate limit. An error wrapping
	// failure.ErrUnavailable means no key could be loaded at all.
	Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
	// Generation changes whenever the set of keys changes, so that tokens
	// verified with a key that is gone stop being trusted from the cache.
	Generation() uint64
}

// RemoteKeysConfig configures a RemoteKeys.
type RemoteKeysConfig struct {
	// Issuer is the OIDC issuer URL; discovery is read from
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// HTTPClient fetches discovery and JWKS. Default: a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// MinRefreshInterval is the least time between two fetches of the
	// issuer, whatever tokens arrive. Default 30 s.
	MinRefreshInterval time.Duration
	// MaxKeyAge makes a key set older than this refresh in the background,
	// so keys the issuer withdrew stop being trusted. Default 1 h.
	MaxKeyAge time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives refresh failures.
	Log *slog.Logger
}

// RemoteKeys is the KeySource of a real OIDC issuer: it reads the discovery
// document for the jwks_uri and then the JWKS, keeps the keys in memory and
// refreshes them when a token names a key it does not know.
//
// Unlike go-oidc's RemoteKeySet, which fetches the JWKS on every miss, a
// refresh happens at most once per MinRefreshInterval: a flood of tokens with
// made-up key ids costs the issuer one request per interval. Concurrent misses
// share one fetch.
//
// Nothing is fetched at construction: a BookWorm that starts before its
// issuer (a compose file, a restart of Keycloak) serves public RPCs at once
// and discovers the issuer with the first token, retrying at most once per
// interval while the issuer is down; tokens meanwhile get Unavailable. Call
// Warm at start to find out early and log it.
type RemoteKeys struct {
	cfg RemoteKeysConfig

	snap atomic.Pointer[keySnapshot]

	mu          sync.Mutex
	jwksURL     string
	lastAttempt time.Time
	inflight    *refresh
}

type refresh struct {
	done chan struct{}
	err  error
}

type keySnapshot struct {
	byKID   map[string][]jose.JSONWebKey
	all     []jose.JSONWebKey
	fetched time.Time
	gen     uint64
	sig     string // identity of the key set, to tell a change from a re-read
}

// errUnknownKey means the token names a key no source knows.
var errUnknownKey = errors.New("unknown signing key")

// NewRemoteKeys returns a RemoteKeys for cfg.Issuer. It does no I/O.
func NewRemoteKeys(cfg RemoteKeysConfig) *RemoteKeys {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 30 * time.Second
	}
	if cfg.MaxKeyAge <= 0 {
		cfg.MaxKeyAge = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &RemoteKeys{cfg: cfg}
}

// Warm fetches discovery and keys now and reports whether that worked. The
// server calls it at start to log an unreachable issuer; it is not fatal.
func (r *RemoteKeys) Warm(ctx context.Context) error {
	return r.refresh(ctx)
}

// Generation implements KeySource.
func (r *RemoteKeys) Generation() uint64 {
	if s := r.snap.Load(); s != nil {
		return s.gen
	}
	return 0
}

// Keys implements KeySource.
func (r *RemoteKeys) Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	s := r.snap.Load()
	if s != nil {
		if keys := s.find(kid); len(keys) > 0 {
			if r.cfg.Now().Sub(s.fetched) > r.cfg.MaxKeyAge {
				r.start()
			}
			return keys, nil
		}
	}
	err := r.refresh(ctx)
	if s2 := r.snap.Load(); s2 != nil {
		if keys := s2.find(kid); len(keys) > 0 {
			return keys, nil
		}
		return nil, errUnknownKey
	}
	if err == nil {
		err = errors.New("no keys")
	}
	return nil, fmt.Errorf("%w: the token issuer cannot be reached: %w", failure.ErrUnavailable, err)
}

func (s *keySnapshot) find(kid string) []jose.JSONWebKey {
	if kid == "" {
		return s.all
	}
	return s.byKID[kid]
}

// errRefreshLimited is what a refresh inside the interval returns.
var errRefreshLimited = errors.New("key refresh rate limited")

// refresh fetches the keys unless a fetch ran less than MinRefreshInterval
// ago, joining a fetch already running. It waits for the fetch or ctx.
func (r *RemoteKeys) refresh(ctx context.Context) error {
	f := r.start()
	if f == nil {
		return errRefreshLimited
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start begins a fetch when one is allowed and returns it (or the one
// already running); nil when the rate limit forbids one. The fetch runs in
// its own goroutine bounded by the HTTP client's timeout, so a caller giving
// up does not cancel it for the others.
func (r *RemoteKeys) start() *refresh {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight != nil {
		return r.inflight
	}
	now := r.cfg.Now()
	if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.cfg.MinRefreshInterval {
		return nil
	}
	r.lastAttempt = now
	f := &refresh{done: make(chan struct{})}
	r.inflight = f
	go func() {
		f.err = r.fetch()
		if f.err != nil {
			r.cfg.Log.Warn("oidc key refresh failed", slog.String("issuer", r.cfg.Issuer), slog.Any("error", f.err))
		}
		r.mu.Lock()
		r.inflight = nil
		r.mu.Unlock()
		close(f.done)
	}()
	return f
}

// maxJWKSBytes bounds what is read from the issuer.
const maxJWKSBytes = 1 << 20

func (r *RemoteKeys) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.mu.Lock()
	jwksURL := r.jwksURL
	r.mu.Unlock()
	if jwksURL == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, r.cfg.HTTPClient), r.cfg.Issuer)
		if err != nil {
			return fmt.Errorf("oidc discovery: %w", err)
		}
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil || doc.JWKSURI == "" {
			return fmt.Errorf("oidc discovery: no jwks_uri (%v)", err)
		}
		jwksURL = doc.JWKSURI
		r.mu.Lock()
		r.jwksURL = jwksURL
		r.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching jwks: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return fmt.Errorf("reading jwks: %w", err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return err
	}
	r.install(keys)
	return nil
}

// install publishes keys as the current snapshot.
func (r *RemoteKeys) install(keys []jose.JSONWebKey) {
	old := r.snap.Load()
	s := newSnapshot(keys, r.cfg.Now())
	s.gen = 1
	if old != nil {
		s.gen = old.gen
		if old.sig != s.sig {
			s.gen++
		}
	}
	r.snap.Store(s)
}

func newSnapshot(keys []jose.JSONWebKey, now time.Time) *keySnapshot {
	s := &keySnapshot{byKID: make(map[string][]jose.JSONWebKey), fetched: now}
	for _, k := range keys {
		s.all = append(s.all, k)
		if k.KeyID != "" {
			s.byKID[k.KeyID] = append(s.byKID[k.KeyID], k)
		}
		tp, _ := k.Thumbprint(crypto.SHA256)
		s.sig += k.KeyID + ":" + string(tp) + ";"
	}
	return s
}

// parseJWKS reads a JSON Web Key Set and keeps the keys that can verify
// RS256 or ES256 signatures: public RSA keys of at least 2048 bits and P-256
// keys, not marked for encryption, whose alg (when given) is one we accept.
// Keys of other types are skipped rather than failing the set, as RFC 7517
// section 5 asks.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if usableKey(k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func usableKey(k jose.JSONWebKey) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	if k.Algorithm != "" && k.Algorithm != string(jose.RS256) && k.Algorithm != string(jose.ES256) {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return pub.Curve == elliptic.P256()
	default:
		return false // private keys, symmetric keys, other curves
	}
}

// fits reports whether key k can check a signature made with alg.
func fits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256)
	}
	return false
}

// StaticKeys is a KeySource with fixed keys, for the development issuer and
// for tests.
type StaticKeys struct {
	snap *keySnapshot
}

// NewStaticKeys returns a StaticKeys holding the usable keys among keys.
func NewStaticKeys(keys ...jose.JSONWebKey) *StaticKeys {
	var usable []jose.JSONWebKey
	for _, k := range keys {
		if usableKey(k) {
			usable = append(usable, k)
		}
	}
	s := newSnapshot(usable, time.Time{})
	s.gen = 1
	return &StaticKeys{snap: s}
}

// Keys implements KeySource.
func (s *StaticKeys) Keys(_ context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys := s.snap.find(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, errUnknownKey
}

// Generation implements KeySource.
func (s *StaticKeys) Generation() uint64 { return 1 }
