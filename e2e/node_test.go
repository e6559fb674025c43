package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// nodeTimeout bounds the npm installs and the Node test run.
const nodeTimeout = 5 * time.Minute

// TestNode runs the TypeScript SDK's end-to-end test (e2e/node, Node's
// built-in test runner over @connectrpc/connect-node) against the server
// the Go tests use. It installs the npm dependencies of sdk/ts and e2e/node
// when they are missing.
func TestNode(t *testing.T) {
	t.Parallel()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(root, "sdk", "ts")
	dir := filepath.Join(root, "e2e", "node")
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
	out, err := runNPM(ctx, dir, "test")
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
}

// nodeCount matches a count of the summary of node --test's spec reporter.
var nodeCount = regexp.MustCompile(`(?m)^ℹ (pass|fail|cancelled|skipped|todo) (\d+)\s*$`)

// runNPM runs npm with args in dir and returns its combined output.
func runNPM(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BOOKWORM_URL="+srv.baseURL, "BOOKWORM_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// npm runs npm with args in dir and fails the test when it fails.
func npm(ctx context.Context, t *testing.T, dir string, args ...string) {
	t.Helper()
	out, err := runNPM(ctx, dir, args...)
	if err != nil {
		t.Fatalf("npm %v in %s: %v\n%s", args, dir, err, out)
	}
	t.Logf("npm %v in %s:\n%s", args, dir, out)
}
