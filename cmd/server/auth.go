package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
)

// authConfig is the identity and access part of the configuration.
type authConfig struct {
	OIDCIssuer          string
	OIDCAudience        string
	OIDCClientID        string
	OIDCRoleClaim       string
	OIDCLeeway          time.Duration
	OIDCRefreshInterval time.Duration
	PublicURL           string
	DevKeyFile          string
	RateLimit           bool
	// RateBudgets are the budgets per tier given by --rate-<tier>; a tier
	// left out keeps auth.DefaultBudgets.
	RateBudgets        map[auth.Tier]auth.Budget
	rateSpecs          map[auth.Tier]*string
	TrustedProxyHeader string
	CORSOrigins        []string
	// removedRate holds the values of the flags --rate-read, --rate-write
	// and their bursts, replaced by --rate-<tier>: set, they are an error
	// rather than silently ignored.
	removedRate map[string]*string
}

// authFlags registers the flags of authConfig with the helpers of
// parseConfig.
func authFlags(a *authConfig,
	str func(*string, string, string, string),
	boolean func(*bool, string, bool, string),
	integer func(*int, string, int, string),
	duration func(*time.Duration, string, time.Duration, string),
	corsOrigins *string,
) {
	str(&a.OIDCIssuer, "oidc-issuer", "", "OIDC issuer URL; empty runs the development issuer")
	str(&a.OIDCAudience, "oidc-audience", "bookworm", "audience tokens must carry")
	str(&a.OIDCClientID, "oidc-client-id", "", "also read roles from resource_access.<client id>.roles (Keycloak)")
	str(&a.OIDCRoleClaim, "oidc-role-claim", "", "dot-separated claim holding the roles, instead of Keycloak's realm_access.roles")
	duration(&a.OIDCLeeway, "oidc-leeway", 30*time.Second, "clock skew tolerated on exp, nbf and iat")
	duration(&a.OIDCRefreshInterval, "oidc-refresh-interval", 30*time.Second, "least time between two fetches of the issuer's keys")
	str(&a.PublicURL, "public-url", "", "the server's public base URL (default http[s]://addr); the development issuer is <public-url>/dev/oidc")
	str(&a.DevKeyFile, "dev-key-file", auth.DefaultDevKeyFile, "signing key file of the development issuer")
	boolean(&a.RateLimit, "rate-limit", true, "limit call rates per caller")
	a.rateSpecs = map[auth.Tier]*string{}
	for _, tier := range auth.Tiers {
		a.rateSpecs[tier] = new(string)
		str(a.rateSpecs[tier], "rate-"+string(tier), formatBudget(auth.DefaultBudgets[tier]),
			"budget per "+tierCaller[tier]+": reads and writes per second and their bursts; keys left out keep their default")
	}
	a.removedRate = map[string]*string{}
	for _, name := range []string{"rate-read", "rate-read-burst", "rate-write", "rate-write-burst"} {
		a.removedRate[name] = new(string)
		str(a.removedRate[name], name, "", "removed: set --rate-<tier> instead")
	}
	str(&a.TrustedProxyHeader, "trusted-proxy-header", "", "header with the client address set by a trusted reverse proxy (X-Forwarded-For)")
	str(corsOrigins, "cors-origins", "", "comma-separated origins allowed to call from browsers")
}

// finish completes authConfig after parsing and validates it.
func (a *authConfig) finish(c config, corsOrigins string) []error {
	var errs []error
	for _, o := range strings.Split(corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			a.CORSOrigins = append(a.CORSOrigins, o)
		}
	}
	if a.PublicURL == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		a.PublicURL = scheme + "://" + c.Addr
	}
	if c.Env == "dev" || c.Env == "prod" { // another env is reported by validate
		if err := auth.ValidateMode(c.Env, a.OIDCIssuer != ""); err != nil {
			errs = append(errs, err)
		}
	}
	if a.OIDCAudience == "" {
		errs = append(errs, errors.New("oidc-audience must not be empty"))
	}
	if a.OIDCLeeway < 0 || a.OIDCLeeway > 5*time.Minute {
		errs = append(errs, errors.New("oidc-leeway must be between 0 and 5m"))
	}
	if a.OIDCRefreshInterval < time.Second {
		errs = append(errs, errors.New("oidc-refresh-interval must be at least 1s"))
	}
	for _, name := range slices.Sorted(maps.Keys(a.removedRate)) {
		if *a.removedRate[name] != "" {
			key := strings.TrimPrefix(name, "rate-")
			errs = append(errs, fmt.Errorf("%s (%s) was replaced by a budget per tier: --rate-anonymous, --rate-user, --rate-admin, --rate-integration (e.g. --rate-user %s=N)",
				name, envName(name), key))
		}
	}
	a.RateBudgets = map[auth.Tier]auth.Budget{}
	for _, tier := range auth.Tiers {
		b, err := parseBudget(*a.rateSpecs[tier], auth.DefaultBudgets[tier])
		if err != nil {
			if a.RateLimit {
				errs = append(errs, fmt.Errorf("rate-%s: %w", tier, err))
			}
			continue
		}
		a.RateBudgets[tier] = b
	}
	return errs
}

// authSetup is what serve needs from the identity and access adapter.
type authSetup struct {
	interceptors []connect.Interceptor
	dev          *auth.DevIssuer // nil with a real issuer
	// verifier and limiter (nil with rate limits off) also guard the plain
	// HTTP endpoints that take bearer tokens (/mcp).
	verifier *auth.Verifier
	limiter  *auth.RateLimiter
}

// newAuth builds the token verifier, the authorization interceptor, the
// rate limiter and, without an OIDC issuer, the development issuer.
func newAuth(ctx context.Context, a authConfig, log *slog.Logger) (authSetup, error) {
	var (
		s    authSetup
		keys auth.KeySource
	)
	issuer := a.OIDCIssuer
	if issuer == "" {
		issuer = auth.DevIssuerURL(a.PublicURL)
		dev, err := auth.NewDevIssuer(issuer, a.DevKeyFile)
		if err != nil {
			return s, err
		}
		s.dev, keys = dev, dev.Keys()
		log.Warn("DEVELOPMENT MODE: no OIDC issuer configured; this server trusts tokens signed with the key in "+a.DevKeyFile+
			" (mint them with `server dev-token`). Never expose it; set BOOKWORM_OIDC_ISSUER and --env prod in production.",
			slog.String("issuer", issuer))
	} else {
		remote := auth.NewRemoteKeys(auth.RemoteKeysConfig{Issuer: issuer, MinRefreshInterval: a.OIDCRefreshInterval, Log: log})
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := remote.Warm(wctx); err != nil {
			log.Warn("oidc issuer not reachable yet; retrying when tokens arrive", slog.String("issuer", issuer), slog.Any("error", err))
		}
		cancel()
		keys = remote
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Issuer: issuer, Audience: a.OIDCAudience, ClientID: a.OIDCClientID, RoleClaim: a.OIDCRoleClaim, Leeway: a.OIDCLeeway,
	}, keys)
	if err != nil {
		return s, err
	}
	s.verifier = v
	s.interceptors = append(s.interceptors, auth.NewInterceptor(v, log))
	if a.RateLimit {
		rl, err := auth.NewRateLimiter(auth.RateLimitConfig{
			Budgets:            a.RateBudgets,
			TrustedProxyHeader: a.TrustedProxyHeader,
		})
		if err != nil {
			return s, err
		}
		s.limiter = rl
		s.interceptors = append(s.interceptors, rl)
	}
	return s, nil
}

// runDevToken is the dev-token subcommand: it prints a token of the
// development issuer, alone on stdout. It reads the server's configuration
// from the environment so that the issuer URL and key file match.
func runDevToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(nil, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Auth.OIDCIssuer != "" {
		return errors.New("dev-token: BOOKWORM_OIDC_ISSUER is set, so the server does not trust development tokens")
	}
	fs := flag.NewFlagSet("dev-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "the user id (sub) of the token (required)")
	var roles []string
	fs.Func("role", "a role to grant; repeat or separate with commas", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				roles = append(roles, r)
			}
		}
		return nil
	})
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	audience := fs.String("audience", cfg.Auth.OIDCAudience, "the token's audience")
	publicURL := fs.String("public-url", cfg.Auth.PublicURL, "the server's public base URL")
	keyFile := fs.String("dev-key-file", cfg.Auth.DevKeyFile, "the development issuer's key file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *sub == "" || fs.NArg() > 0 {
		return errors.New("usage: server dev-token --sub ID [--role ROLE]... [--ttl 1h]")
	}
	tok, err := auth.MintDevToken(*keyFile, auth.DevIssuerURL(*publicURL), *audience, *sub, roles, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
