package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
)

// e2eAudience is the audience the suite's server demands.
const e2eAudience = "bookworm-e2e"

// The suite's OIDC issuer (a real HTTP server the server under test fetches
// discovery and keys from), and what it takes to start more servers.
var (
	issuer      *authtest.Issuer
	serverBin   string
	serverDBURL string
	serverTmp   string
)

// setUpAuth starts the suite's issuer, mints the admin token every shared
// case sends, and returns the environment that points the server at the
// issuer. Rate limits are off for the main server, whose parallel cases
// write far faster than any budget; TestRateLimit starts its own server.
func setUpAuth(bin, dbURL, tmp string) (env []string, stop func(), err error) {
	serverBin, serverDBURL, serverTmp = bin, dbURL, tmp
	issuer, err = authtest.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("test issuer: %w", err)
	}
	adminToken, err = authtest.Sign(issuer.Current(jose.ES256), issuer.Claims("e2e-admin", e2eAudience, "user", "admin"))
	if err != nil {
		issuer.Close()
		return nil, nil, err
	}
	return append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false"), issuer.Close, nil
}

// issuerEnv points a server at the suite's issuer. The refresh interval is
// short so the key rotation case does not wait long.
func issuerEnv() []string {
	return []string{
		"BOOKWORM_ENV=prod",
		"BOOKWORM_OIDC_ISSUER=" + issuer.URL,
		"BOOKWORM_OIDC_AUDIENCE=" + e2eAudience,
		"BOOKWORM_OIDC_REFRESH_INTERVAL=1s",
	}
}

// startExtraServer starts another server on the suite's database with env
// added, stopped (gracefully, or the test fails) at the end of the test.
func startExtraServer(t *testing.T, name string, env ...string) *server {
	t.Helper()
	s, err := startServer(context.Background(), serverBin, serverDBURL, filepath.Join(serverTmp, name+".log"), env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting %s server: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("%s server: %v", name, err)
			s.dumpLogs()
		}
	})
	return s
}
