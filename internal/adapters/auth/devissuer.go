package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultDevKeyFile is where the development issuer keeps its signing key,
// relative to the working directory, so that `server dev-token` run from
// the same directory signs with the key the server trusts.
const DefaultDevKeyFile = ".bookworm/dev-signing-key.pem"

// DevIssuerPath is where the development issuer is mounted.
const DevIssuerPath = "/dev/oidc"

// DevIssuerURL returns the issuer URL of the development issuer of a server
// reachable at publicBaseURL (for example http://127.0.0.1:8080).
func DevIssuerURL(publicBaseURL string) string {
	return strings.TrimRight(publicBaseURL, "/") + DevIssuerPath
}

// ValidateMode checks the deployment mode. env is "dev" or "prod"; in prod
// an OIDC issuer must be configured, because the development issuer signs
// whatever `dev-token` asks for with a key lying in a file.
func ValidateMode(env string, issuerConfigured bool) error {
	switch env {
	case "dev":
		return nil
	case "prod":
		if !issuerConfigured {
			return errors.New("refusing to start with --env prod and no OIDC issuer: the development issuer mints any token for anyone; set BOOKWORM_OIDC_ISSUER (and BOOKWORM_OIDC_AUDIENCE)")
		}
		return nil
	default:
		return fmt.Errorf("unknown environment %q (want dev or prod)", env)
	}
}

// DevIssuer is a minimal OIDC issuer for development: a discovery document
// and a JWKS with one ES256 key. It issues no tokens over HTTP; MintDevToken
// does, offline, with the same key.
type DevIssuer struct {
	issuer string
	key    *ecdsa.PrivateKey
	jwk    jose.JSONWebKey // public
}

// NewDevIssuer returns the development issuer named issuer (see
// DevIssuerURL), signing with the key in keyFile, created when missing.
func NewDevIssuer(issuer, keyFile string) (*DevIssuer, error) {
	key, err := LoadOrCreateDevKey(keyFile)
	if err != nil {
		return nil, err
	}
	jwk, err := publicJWK(key)
	if err != nil {
		return nil, err
	}
	return &DevIssuer{issuer: issuer, key: key, jwk: jwk}, nil
}

// Issuer returns the issuer URL, the "iss" of its tokens.
func (d *DevIssuer) Issuer() string { return d.issuer }

// Keys returns the issuer's key as a KeySource, so the server verifies its
// own development tokens without calling itself over HTTP.
func (d *DevIssuer) Keys() *StaticKeys { return NewStaticKeys(d.jwk) }

// Mint signs a token for sub with roles, valid for ttl.
func (d *DevIssuer) Mint(audience, sub string, roles []string, ttl time.Duration) (string, error) {
	return mint(d.key, d.jwk.KeyID, d.issuer, audience, sub, roles, ttl)
}

// Handler serves the discovery document and the JWKS under DevIssuerPath;
// mount it at DevIssuerPath + "/".
func (d *DevIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DevIssuerPath+"/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                d.issuer,
			"jwks_uri":                              d.issuer + "/jwks",
			"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
			"subject_types_supported":               []string{"public"},
			"response_types_supported":              []string{"token"},
			"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "name", "email", "realm_access", "scope"},
		})
	})
	mux.HandleFunc("GET "+DevIssuerPath+"/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{d.jwk}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(v)
}

// MintDevToken signs a development access token with the key in keyFile
// (created when missing; the server then trusts it from its next start),
// for the `dev-token` subcommand. The token carries sub, roles in
// realm_access.roles (as Keycloak does), scope "openid" and expires after
// ttl.
func MintDevToken(keyFile, issuer, audience, sub string, roles []string, ttl time.Duration) (string, error) {
	key, err := LoadOrCreateDevKey(keyFile)
	if err != nil {
		return "", err
	}
	jwk, err := publicJWK(key)
	if err != nil {
		return "", err
	}
	return mint(key, jwk.KeyID, issuer, audience, sub, roles, ttl)
}

func mint(key *ecdsa.PrivateKey, kid, issuer, audience, sub string, roles []string, ttl time.Duration) (string, error) {
	if sub == "" {
		return "", errors.New("dev token: a subject is required")
	}
	if ttl <= 0 {
		return "", errors.New("dev token: ttl must be positive")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	now := time.Now()
	if roles == nil {
		roles = []string{}
	}
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:    issuer,
		Subject:   sub,
		Audience:  jwt.Audience{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(ttl)),
	}).Claims(map[string]any{
		"typ":                "Bearer",
		"email":              DevEmail(sub),
		"name":               sub,
		"preferred_username": sub,
		"scope":              "openid",
		"realm_access":       map[string]any{"roles": roles},
	}).Serialize()
}

// DevEmail is the email address of a development token's user: sub when it
// is an address, else sub at bookworm.localhost (a name that never leaves
// the machine; the Mailpit of the README takes any). Without one the
// notification context could not write to the buyer of a development order.
func DevEmail(sub string) string {
	if strings.Contains(sub, "@") {
		return sub
	}
	return sub + "@bookworm.localhost"
}

// LoadOrCreateDevKey reads the ECDSA P-256 key in PKCS #8 PEM form from
// path, or creates one there (directory 0700, file 0600). Creation is atomic,
// so a server and a dev-token process starting together end up with one key.
func LoadOrCreateDevKey(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		path = DefaultDevKeyFile
	}
	key, err := readDevKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dev-key-*")
	if err != nil {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	// Link fails when the file appeared meanwhile; then the other process's
	// key wins and is read back.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	return readDevKey(path)
}

func readDevKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("dev signing key %s: no PEM block", path)
	}
	var k any
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dev signing key %s: unexpected PEM type %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dev signing key %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("dev signing key %s: not an ECDSA P-256 key", path)
	}
	return key, nil
}

// publicJWK returns the public half of key with its RFC 7638 thumbprint as
// key id, so every process holding the key names it the same way.
func publicJWK(key *ecdsa.PrivateKey) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return jwk, nil
}
