package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
)

// The fuzz verifier's fixed world: its clock, issuer and audience.
var (
	fuzzNow      = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	fuzzIssuer   = "https://issuer.test/realms/bookworm"
	fuzzAudience = "bookworm"
)

type fuzzWorld struct {
	v          *Verifier
	ec         *ecdsa.PrivateKey
	rsa        *rsa.PrivateKey
	ecID, rsID string
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	b, err := os.ReadFile("testdata/fuzz-keys.pem")
	if err != nil {
		t.Fatal(err)
	}
	w := &fuzzWorld{ecID: "fuzz-ec", rsID: "fuzz-rsa"}
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			w.ec = k
		case *rsa.PrivateKey:
			w.rsa = k
		}
	}
	if w.ec == nil || w.rsa == nil {
		t.Fatal("testdata/fuzz-keys.pem lacks a key")
	}
	keys := NewStaticKeys(
		jose.JSONWebKey{Key: &w.ec.PublicKey, KeyID: w.ecID, Algorithm: "ES256", Use: "sig"},
		jose.JSONWebKey{Key: &w.rsa.PublicKey, KeyID: w.rsID, Algorithm: "RS256", Use: "sig"},
	)
	w.v, err = NewVerifier(VerifierConfig{Issuer: fuzzIssuer, Audience: fuzzAudience, Leeway: 30 * time.Second,
		Now: func() time.Time { return fuzzNow }}, keys)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *fuzzWorld) claims() map[string]any {
	return map[string]any{
		"iss": fuzzIssuer, "sub": "alice", "aud": fuzzAudience, "typ": "Bearer",
		"iat": fuzzNow.Add(-time.Minute).Unix(), "exp": fuzzNow.Add(time.Hour).Unix(),
		"realm_access": map[string]any{"roles": []string{"admin"}}, "scope": "openid",
	}
}

// FuzzVerify feeds arbitrary strings to the verifier. It must never panic,
// and whatever it accepts must pass an independent check written with the
// standard library alone: three canonical base64url segments, an RS256 or
// ES256 header naming one of the keys, a signature that verifies, and the
// issuer, audience and expiry the verifier was told to demand.
func FuzzVerify(f *testing.F) {
	w := newFuzzWorld(f)
	good := w.claims()
	ecTok := authtest.SignWith(f, authtest.KeyFrom(w.ecID, jose.ES256, w.ec), good)
	rsTok := authtest.SignWith(f, authtest.KeyFrom(w.rsID, jose.RS256, w.rsa), good)
	parts := strings.Split(ecTok, ".")
	for _, seed := range []string{
		ecTok, rsTok,
		authtest.AlgNone(good, w.ecID),
		authtest.HMAC(good, w.rsID, authtest.PublicPEM(authtest.KeyFrom(w.rsID, jose.RS256, w.rsa))),
		authtest.Tamper(ecTok, map[string]any{"iss": fuzzIssuer, "sub": "root", "aud": fuzzAudience, "exp": 1 << 40}),
		authtest.BreakSignature(rsTok),
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		ecTok[:len(ecTok)-1],
		"", ".", "..", "...", "a.b.c", "e30.e30.e30", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
		`{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := w.v.Verify(context.Background(), raw)
		if err != nil {
			if p.Authenticated() {
				t.Fatalf("error %v but a principal %+v", err, p)
			}
			return
		}
		if reason := w.independentCheck(raw); reason != "" {
			t.Fatalf("accepted a token that is %s: %q", reason, raw)
		}
		if p.Subject == "" {
			t.Fatalf("accepted a token without subject: %q", raw)
		}
	})
}

// independentCheck returns why raw is not a valid token, or "".
func (w *fuzzWorld) independentCheck(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "not three segments"
	}
	dec := make([][]byte, 3)
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return "not canonical base64url"
		}
		dec[i] = b
	}
	var h struct {
		Alg, Kid string
	}
	if json.Unmarshal(dec[0], &h) != nil {
		return "a bad header"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch {
	case h.Alg == "ES256" && h.Kid == w.ecID:
		if len(dec[2]) != 64 {
			return "a bad ES256 signature length"
		}
		r, s := new(big.Int).SetBytes(dec[2][:32]), new(big.Int).SetBytes(dec[2][32:])
		if !ecdsa.Verify(&w.ec.PublicKey, digest[:], r, s) {
			return "badly signed (ES256)"
		}
	case h.Alg == "RS256" && h.Kid == w.rsID:
		if rsa.VerifyPKCS1v15(&w.rsa.PublicKey, crypto.SHA256, digest[:], dec[2]) != nil {
			return "badly signed (RS256)"
		}
	default:
		return "signed with an unaccepted algorithm or key"
	}
	var c struct {
		Iss string
		Aud any
		Exp float64
	}
	if json.Unmarshal(dec[1], &c) != nil {
		return "an unreadable payload"
	}
	if c.Iss != fuzzIssuer {
		return "from another issuer"
	}
	var auds []string
	switch a := c.Aud.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	if !slices.Contains(auds, fuzzAudience) {
		return "for another audience"
	}
	if time.Unix(int64(c.Exp), 0).Before(fuzzNow.Add(-30 * time.Second)) {
		return "expired"
	}
	return ""
}

// TestFuzzSeedsAreMeaningful pins what the seeds exercise: the two genuine
// tokens are accepted (so the oracle is not vacuous) and a forgery is not.
func TestFuzzSeedsAreMeaningful(t *testing.T) {
	w := newFuzzWorld(t)
	for _, k := range []authtest.Key{authtest.KeyFrom(w.ecID, jose.ES256, w.ec), authtest.KeyFrom(w.rsID, jose.RS256, w.rsa)} {
		tok := authtest.SignWith(t, k, w.claims())
		if _, err := w.v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("%s seed refused: %v", k.Alg, err)
		}
		if reason := w.independentCheck(tok); reason != "" {
			t.Fatalf("%s seed fails the oracle: %s", k.Alg, reason)
		}
		if reason := w.independentCheck(authtest.BreakSignature(tok)); reason == "" {
			t.Fatal("the oracle accepts a broken signature")
		}
	}
}
