package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

func TestDevKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dev-signing-key.pem")
	k1, err := LoadOrCreateDevKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateDevKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second load made a new key")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateDevKey(path); err == nil {
		t.Fatal("garbage key file accepted (and perhaps overwritten)")
	}
}

func TestDevKeyFileConcurrentCreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateDevKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k.X.String()
		})
	}
	wg.Wait()
	distinct := slices.Compact(slices.Sorted(slices.Values(keys)))
	if len(distinct) != 1 || distinct[0] == "" {
		t.Fatalf("processes starting together ended up with different keys: %v", keys)
	}
}

// TestDevEmail: a development user has an address, so that orders placed
// with a development token get their emails.
func TestDevEmail(t *testing.T) {
	for sub, want := range map[string]string{
		"reader-1":         "reader-1@bookworm.localhost",
		"ada@example.test": "ada@example.test",
	} {
		if got := DevEmail(sub); got != want {
			t.Errorf("DevEmail(%q) = %q, want %q", sub, got, want)
		}
	}
}

// TestDevIssuerEndToEnd serves the development issuer over HTTP and checks
// that a token from MintDevToken (the dev-token subcommand) passes the same
// verifier a real issuer's would: discovery, JWKS and all.
func TestDevIssuerEndToEnd(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "dev.pem")
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuerURL := DevIssuerURL(srv.URL + "/")
	if issuerURL != srv.URL+"/dev/oidc" {
		t.Fatalf("DevIssuerURL = %q", issuerURL)
	}
	dev, err := NewDevIssuer(issuerURL, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(DevIssuerPath+"/", dev.Handler())

	token, err := MintDevToken(keyFile, issuerURL, "bookworm", "dev-admin", []string{"admin"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \n") {
		t.Fatalf("token is not one compact JWS: %q", token)
	}
	for name, keys := range map[string]KeySource{
		"over HTTP":  NewRemoteKeys(RemoteKeysConfig{Issuer: issuerURL}),
		"in process": dev.Keys(),
	} {
		t.Run(name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Issuer: issuerURL, Audience: "bookworm"}, keys)
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != "dev-admin" || !p.HasRole("admin") || p.Email != "dev-admin@bookworm.localhost" || p.Name != "dev-admin" {
				t.Fatalf("principal = %+v", p)
			}
			// A token for another audience or from another base URL is refused.
			wrong, err := MintDevToken(keyFile, "http://elsewhere/dev/oidc", "bookworm", "x", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), wrong); err == nil {
				t.Fatal("token of another issuer URL accepted")
			}
		})
	}
	// A key file of another developer signs tokens the server refuses.
	stranger, err := MintDevToken(filepath.Join(t.TempDir(), "other.pem"), issuerURL, "bookworm", "x", []string{"admin"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Issuer: issuerURL, Audience: "bookworm"}, dev.Keys())
	if _, err := v.Verify(context.Background(), stranger); !errors.Is(err, failure.ErrUnauthenticated) {
		t.Fatalf("token of another key: %v", err)
	}
}

func TestMintDevTokenValidates(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k.pem")
	if _, err := MintDevToken(keyFile, "http://x/dev/oidc", "bookworm", "", nil, time.Hour); err == nil {
		t.Fatal("token without subject minted")
	}
	if _, err := MintDevToken(keyFile, "http://x/dev/oidc", "bookworm", "a", nil, 0); err == nil {
		t.Fatal("token without lifetime minted")
	}
}

func TestValidateMode(t *testing.T) {
	tests := []struct {
		env              string
		issuerConfigured bool
		ok               bool
	}{
		{"dev", false, true},
		{"dev", true, true},
		{"prod", true, true},
		{"prod", false, false},
		{"production", true, false},
		{"", false, false},
	}
	for _, tt := range tests {
		err := ValidateMode(tt.env, tt.issuerConfigured)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateMode(%q, %v) = %v, want ok=%v", tt.env, tt.issuerConfigured, err, tt.ok)
		}
	}
}
