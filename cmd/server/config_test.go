package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
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
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{
			name: "defaults fit the local services",
			env:  env(),
			check: func(t *testing.T, c config) {
				if c.Addr != "127.0.0.1:8080" || !strings.Contains(c.DatabaseURL, "127.0.0.1:5432/bookworm") || c.Env != "dev" {
					t.Errorf("unexpected defaults: %+v", c)
				}
				if c.MaxRequestBytes != 1<<20 || c.ShutdownTimeout != 20*time.Second || c.SeedBooks != 300 {
					t.Errorf("unexpected defaults: %+v", c)
				}
			},
		},
		{
			name: "environment overrides defaults",
			env:  env("BOOKWORM_ADDR", "127.0.0.1:9999", "BOOKWORM_SEED", "true", "BOOKWORM_SEED_BOOKS", "10000", "BOOKWORM_DATABASE_URL", "postgres://x@127.0.0.1/db"),
			check: func(t *testing.T, c config) {
				if c.Addr != "127.0.0.1:9999" || !c.Seed || c.SeedBooks != 10000 || c.DatabaseURL != "postgres://x@127.0.0.1/db" {
					t.Errorf("environment not applied: %+v", c)
				}
			},
		},
		{
			name: "flags override environment",
			args: []string{"--addr", "127.0.0.1:7000", "--seed=false"},
			env:  env("BOOKWORM_ADDR", "127.0.0.1:9999", "BOOKWORM_SEED", "true"),
			check: func(t *testing.T, c config) {
				if c.Addr != "127.0.0.1:7000" || c.Seed {
					t.Errorf("flags not applied: %+v", c)
				}
			},
		},
		{name: "bad boolean in environment", env: env("BOOKWORM_SEED", "maybe"), wantErr: "BOOKWORM_SEED"},
		{name: "bad duration", env: env("BOOKWORM_SHUTDOWN_TIMEOUT", "soon"), wantErr: "BOOKWORM_SHUTDOWN_TIMEOUT"},
		{name: "bad address", args: []string{"--addr", "nope"}, env: env(), wantErr: "addr"},
		{name: "not a postgres url", args: []string{"--database-url", "mysql://x"}, env: env(), wantErr: "database-url"},
		{name: "unknown env", args: []string{"--env", "staging"}, env: env(), wantErr: "env"},
		{name: "cert without key", args: []string{"--tls-cert", "c.pem"}, env: env(), wantErr: "tls-cert and tls-key"},
		{name: "plaintext on a public address", args: []string{"--addr", "0.0.0.0:8080"}, env: env(), wantErr: "not loopback"},
		{
			name: "plaintext on a public address when allowed",
			args: []string{"--addr", "0.0.0.0:8080", "--allow-plaintext"},
			env:  env(),
			check: func(t *testing.T, c config) {
				if !c.AllowPlaintext {
					t.Error("allow-plaintext not set")
				}
			},
		},
		{name: "request limit too small", args: []string{"--max-request-kib", "0"}, env: env(), wantErr: "max-request-kib"},
		{name: "stray argument", args: []string{"extra"}, env: env(), wantErr: "unexpected arguments"},
		{name: "several problems at once", args: []string{"--env", "x", "--log-level", "loud"}, env: env(), wantErr: "log-level"},
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
			tt.check(t, c)
		})
	}
}

// TestOrderingConfig: the ordering settings are validated.
func TestOrderingConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ordering.PaymentGateway != "simulated" || c.Ordering.SweepInterval <= 0 || c.Ordering.WatchKeepAlive <= 0 {
		t.Fatalf("ordering defaults = %+v", c.Ordering)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--payment-gateway", "paypal"}, `payment-gateway "paypal" must be one of`},
		{[]string{"--order-sweep-interval", "0s"}, "order-sweep-interval must be positive"},
		{[]string{"--order-sweep-parallelism", "0"}, "order-sweep-parallelism must be between 1 and 100"},
		{[]string{"--order-payment-attempts", "1000"}, "order-payment-attempts must be between 1 and 100"},
		{[]string{"--watch-keepalive", "-1s"}, "watch-keepalive must be positive"},
	} {
		if _, err := parseConfig(tt.args, env(), io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error = %v, want %q", tt.args, err, tt.want)
		}
	}
	if _, err := parseConfig(nil, env("BOOKWORM_ORDER_SWEEP_BATCH", "0"), io.Discard); err == nil || !strings.Contains(err.Error(), "order-sweep-batch") {
		t.Errorf("BOOKWORM_ORDER_SWEEP_BATCH=0: %v", err)
	}
}
