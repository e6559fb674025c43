package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
)

func TestAuthConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		check   func(t *testing.T, a authConfig)
		wantErr string
	}{
		{
			name: "defaults: development issuer, rate limits on, no CORS",
			env:  env(),
			check: func(t *testing.T, a authConfig) {
				if a.OIDCIssuer != "" || a.OIDCAudience != "bookworm" || a.PublicURL != "http://127.0.0.1:8080" || a.DevKeyFile != auth.DefaultDevKeyFile {
					t.Errorf("unexpected defaults: %+v", a)
				}
				if !a.RateLimit || a.CORSOrigins != nil || a.OIDCLeeway != 30*time.Second {
					t.Errorf("unexpected defaults: %+v", a)
				}
				if !maps.Equal(a.RateBudgets, auth.DefaultBudgets) {
					t.Errorf("rate budgets %+v, want the defaults %+v", a.RateBudgets, auth.DefaultBudgets)
				}
			},
		},
		{
			name: "a real issuer in prod",
			env: env("BOOKWORM_ENV", "prod", "BOOKWORM_OIDC_ISSUER", "https://kc.example/realms/bookworm", "BOOKWORM_OIDC_AUDIENCE", "bookworm-api",
				"BOOKWORM_OIDC_CLIENT_ID", "bookworm-api", "BOOKWORM_OIDC_ROLE_CLAIM", "groups", "BOOKWORM_CORS_ORIGINS", "https://a.example, https://b.example,"),
			check: func(t *testing.T, a authConfig) {
				if a.OIDCIssuer != "https://kc.example/realms/bookworm" || a.OIDCAudience != "bookworm-api" || a.OIDCClientID != "bookworm-api" || a.OIDCRoleClaim != "groups" {
					t.Errorf("issuer settings not applied: %+v", a)
				}
				if !slices.Equal(a.CORSOrigins, []string{"https://a.example", "https://b.example"}) {
					t.Errorf("CORS origins = %q", a.CORSOrigins)
				}
			},
		},
		{
			name: "public URL follows TLS",
			args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--addr", "127.0.0.1:8443"},
			env:  env(),
			check: func(t *testing.T, a authConfig) {
				if a.PublicURL != "https://127.0.0.1:8443" {
					t.Errorf("public URL = %q", a.PublicURL)
				}
			},
		},
		{name: "prod without issuer", args: []string{"--env", "prod"}, env: env(), wantErr: "no OIDC issuer"},
		{name: "empty audience", args: []string{"--oidc-audience", ""}, env: env(), wantErr: "oidc-audience"},
		{name: "huge leeway", args: []string{"--oidc-leeway", "1h"}, env: env(), wantErr: "oidc-leeway"},
		{
			name: "budgets per tier, partly given, from flags and environment",
			args: []string{"--rate-integration", "write=500, write-burst=2000"},
			env:  env("BOOKWORM_RATE_ANONYMOUS", "read=5,read-burst=10,write=0.5,write-burst=1"),
			check: func(t *testing.T, a authConfig) {
				want := auth.DefaultBudgets[auth.TierIntegration]
				want.WriteRate, want.WriteBurst = 500, 2000
				if a.RateBudgets[auth.TierIntegration] != want {
					t.Errorf("integration budget %+v, want %+v", a.RateBudgets[auth.TierIntegration], want)
				}
				if got := a.RateBudgets[auth.TierAnonymous]; got != (auth.Budget{ReadRate: 5, ReadBurst: 10, WriteRate: 0.5, WriteBurst: 1}) {
					t.Errorf("anonymous budget %+v", got)
				}
				if a.RateBudgets[auth.TierUser] != auth.DefaultBudgets[auth.TierUser] {
					t.Errorf("user budget changed: %+v", a.RateBudgets[auth.TierUser])
				}
			},
		},
		{name: "zero rate", args: []string{"--rate-user", "write=0"}, env: env(), wantErr: "rate-user: write=\"0\""},
		{name: "zero burst", args: []string{"--rate-admin", "read-burst=0"}, env: env(), wantErr: "rate-admin: read-burst"},
		{name: "rate not a number", env: env("BOOKWORM_RATE_INTEGRATION", "write=lots"), wantErr: "rate-integration: write"},
		{name: "removed flag", args: []string{"--rate-write", "10"}, env: env(), wantErr: "rate-write (BOOKWORM_RATE_WRITE) was replaced"},
		{name: "removed variable", env: env("BOOKWORM_RATE_READ_BURST", "5"), wantErr: "--rate-user read-burst=N"},
		{name: "unknown key", args: []string{"--rate-user", "writes=5"}, env: env(), wantErr: `unknown key "writes"`},
		{name: "not key=value", args: []string{"--rate-user", "5"}, env: env(), wantErr: "key=value"},
		{name: "infinite rate", args: []string{"--rate-user", "read=Inf"}, env: env(), wantErr: "rate-user"},
		{
			name: "zero rate with limits off",
			args: []string{"--rate-user", "write=0", "--rate-limit=false"},
			env:  env(),
			check: func(t *testing.T, a authConfig) {
				if a.RateLimit {
					t.Error("rate-limit not off")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tt.check(t, c.Auth)
		})
	}
}

func TestDevTokenSubcommand(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "dev.pem")
	getenv := func(k string) string {
		return map[string]string{"BOOKWORM_ADDR": "127.0.0.1:9090", "BOOKWORM_DEV_KEY_FILE": keyFile}[k]
	}
	var stdout, stderr bytes.Buffer
	if err := runDevToken([]string{"--sub", "dev-admin", "--role", "admin,user", "--role", "ops"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	tok := strings.TrimSuffix(stdout.String(), "\n")
	if strings.ContainsAny(tok, "\n ") || stderr.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q: want the token alone", stdout.String(), stderr.String())
	}
	// The server configured by the same environment trusts it.
	dev, err := auth.NewDevIssuer(auth.DevIssuerURL("http://127.0.0.1:9090"), keyFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuer: dev.Issuer(), Audience: "bookworm"}, dev.Keys())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "dev-admin" || !slices.Equal(p.Roles, []string{"admin", "user", "ops"}) {
		t.Fatalf("principal = %+v", p)
	}

	for name, args := range map[string][]string{"no subject": {"--role", "admin"}, "stray argument": {"--sub", "x", "extra"}} {
		if err := runDevToken(args, getenv, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	withIssuer := func(k string) string {
		if k == "BOOKWORM_OIDC_ISSUER" {
			return "https://kc.example/realms/x"
		}
		return getenv(k)
	}
	if err := runDevToken([]string{"--sub", "x"}, withIssuer, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "BOOKWORM_OIDC_ISSUER") {
		t.Fatalf("dev-token with a real issuer configured: %v", err)
	}
}
