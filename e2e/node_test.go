package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// nodeTimeout bounds the npm installs and the Node test run.
const nodeTimeout = 5 * time.Minute

// TestNode runs the TypeScript SDK's end-to-end tests (e2e/node, Node's
// built-in test runner): the catalog and error cases over
// @connectrpc/connect-node against the server the Go tests use, and the
// WatchOrder cases (watch.test.ts) over @connectrpc/connect-web, the
// browser's transports on Node's fetch, against two replicas of a
// deployment of their own (startWatchReplicas). It installs the npm
// dependencies of sdk/ts and e2e/node when they are missing.
func TestNode(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(root, "sdk", "ts")
	dir := filepath.Join(root, "e2e", "node")
	replicas := startWatchReplicas(t)
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	for _, d := range []string{sdk, dir} {
		if _, err := os.Stat(filepath.Join(d, "node_modules")); err == nil {
			continue
		}
		npm(ctx, t, d, "ci", "--no-audit", "--no-fund")
	}
	// The pretest script builds sdk/ts, then the test compiles with tsc
	// and runs node --test.
	out, err := runNPM(ctx, dir, replicas.env, "test")
	// The spec reporter ends with "ℹ pass N", "ℹ fail N", ...: the line
	// below carries them to scripts/test.sh's summary of the whole run.
	counts := map[string]int{}
	for _, m := range nodeCount.FindAllStringSubmatch(out, -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	t.Logf("npm test in %s:\n%s", dir, out)
	t.Logf("node tests: %d passed, %d failed, %d skipped",
		counts["pass"], counts["fail"]+counts["cancelled"], counts["skipped"]+counts["todo"])
	if err != nil {
		t.Fatalf("npm test in %s: %v", dir, err)
	}
	if counts["pass"] == 0 {
		t.Fatal("the Node test run reported no passing test")
	}
	replicas.check(t)
}

// nodeCount matches a count of the summary of node --test's spec reporter.
var nodeCount = regexp.MustCompile(`(?m)^ℹ (pass|fail|cancelled|skipped|todo) (\d+)\s*$`)

// watchCORSOrigin is the origin the watch replicas allow, as a shop's web
// page would be.
const watchCORSOrigin = "https://shop.example"

// watchReplicas are the two servers of watch.test.ts: one deployment (a
// database of its own, so that their consumers of the ordering queue do
// not take the suite server's events; the run's broker), replica A where
// orders are placed and moved, replica B where they are watched.
type watchReplicas struct {
	a, b *server
	// env is what watch.test.ts reads (see its header).
	env []string
}

// startWatchReplicas starts the two replicas, stopped (gracefully, or the
// test fails) and their database dropped at the end of the test.
func startWatchReplicas(t *testing.T) *watchReplicas {
	t.Helper()
	dbURL, drop, err := pg.CreateDatabase(t.Context(), "bookworm_node_watch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("dropping the watch replicas' database: %v", err)
		}
	})
	env := append(append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false", "BOOKWORM_CORS_ORIGINS="+watchCORSOrigin), orderingEnv()...)
	r := &watchReplicas{}
	for _, name := range []string{"a", "b"} {
		// Started one after the other: A migrates the new database first.
		s, err := startServer(context.Background(), serverBin, dbURL, filepath.Join(serverTmp, "node-watch-"+name+".log"), env...)
		if err != nil {
			if s != nil {
				s.stop()
				s.dumpLogs()
			}
			t.Fatalf("starting watch replica %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := s.stop(); err != nil {
				t.Errorf("watch replica %s: %v", name, err)
				s.dumpLogs()
			}
		})
		if name == "a" {
			r.a = s
		} else {
			r.b = s
		}
	}
	// Each order needs a basket of its own: one buyer per order of the file.
	buyers := make([]string, 12)
	for i := range buyers {
		buyers[i] = issuer.Token(t, jose.ES256, fmt.Sprintf("node-buyer-%s-%d", token(8), i), e2eAudience, "user")
	}
	r.env = []string{
		"BOOKWORM_REPLICA_A_URL=" + r.a.baseURL,
		"BOOKWORM_REPLICA_B_URL=" + r.b.baseURL,
		"BOOKWORM_REPLICA_B_METRICS_URL=http://" + r.b.metricsAddr + "/metrics",
		"BOOKWORM_BUYER_TOKENS=" + strings.Join(buyers, ","),
		"BOOKWORM_STRANGER_TOKEN=" + issuer.Token(t, jose.ES256, "node-stranger-"+token(8), e2eAudience, "user"),
		"BOOKWORM_CORS_ORIGIN=" + watchCORSOrigin,
	}
	return r
}

// check fails the test when a replica logged an ERROR line or anything but
// JSON while the Node tests watched, aborted and were refused streams (a
// client that leaves is no error), or when B counts a WatchOrder call that
// ended otherwise than ok (watches that ran to the end or whose client
// left) or not_found (another user's order). Node's side checked each
// abort's count.
func (r *watchReplicas) check(t *testing.T) {
	t.Helper()
	watches := 0.0
	for _, s := range scrape(t, r.b.metricsAddr) {
		if s.name != "bookworm_rpc_requests_total" || s.labels["procedure"] != "/bookworm.ordering.v1.OrderingService/WatchOrder" {
			continue
		}
		watches += s.value
		if code := s.labels["code"]; code != "ok" && code != "not_found" {
			t.Errorf("replica B ended %v WatchOrder calls with %s", s.value, code)
		}
	}
	if watches == 0 {
		t.Error("replica B counts no WatchOrder call")
	}
	for _, s := range []*server{r.a, r.b} {
		if errs := serverErrorsSince(t, s, 0); len(errs) > 0 {
			t.Errorf("watch replica %s logged %d ERROR lines:\n%s", s.addr, len(errs), strings.Join(errs, "\n"))
		}
		if err := checkJSONLogs(s.logPath); err != nil {
			t.Errorf("watch replica %s: %v", s.addr, err)
		}
	}
}

// runNPM runs npm with args in dir, with env added to the environment, and
// returns its combined output.
func runNPM(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BOOKWORM_URL="+srv.baseURL, "BOOKWORM_TOKEN="+adminToken)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// npm runs npm with args in dir and fails the test when it fails.
func npm(ctx context.Context, t *testing.T, dir string, args ...string) {
	t.Helper()
	out, err := runNPM(ctx, dir, nil, args...)
	if err != nil {
		t.Fatalf("npm %v in %s: %v\n%s", args, dir, err, out)
	}
	t.Logf("npm %v in %s:\n%s", args, dir, out)
}
