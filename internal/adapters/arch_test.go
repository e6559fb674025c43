// Package adapters_test keeps the adapters apart: no adapter package
// imports another (buf's layering, written down and enforced), except
//
//   - the neutral packages, which any package may import: events (the
//     broker-neutral messages, handlers and publishers) and protoconv (core
//     values to the contract's shared types);
//   - a package under postgres/ importing the driver layer (postgres) or
//     the event plumbing on it (postgres/outbox); a context's store never
//     imports another context's store;
//   - a package importing its own subpackages or parent within one
//     technology other than postgres (auth and auth/authtest, say);
//   - tests importing test-helper packages (a name ending in "test");
//   - a package of tests only (flows), which nothing can import, testing
//     flows that cross contexts and technologies.
package adapters_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const adapters = "github.com/bookworm-store/bookworm/internal/adapters/"

// listed is what go list -json says of a package.
type listed struct {
	ImportPath   string
	GoFiles      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// rel returns path relative to internal/adapters, or "" when it is not an
// adapter package.
func rel(path string) string {
	if !strings.HasPrefix(path, adapters) {
		return ""
	}
	return strings.TrimPrefix(path, adapters)
}

// allowed reports whether the adapter package from may import the adapter
// package to (both relative to internal/adapters) in its production code.
func allowed(from, to string) bool {
	tech := func(p string) string { return strings.Split(p, "/")[0] }
	switch {
	case to == "events" || to == "protoconv" || from == to:
		return true
	case tech(from) == "postgres" && tech(to) == "postgres":
		// The driver layer and the outbox serve every context's store;
		// stores never import each other, nor does the driver import up.
		return from != "postgres" && (to == "postgres" || (to == "postgres/outbox" && from != "postgres/outbox"))
	case tech(from) == tech(to):
		return true
	}
	return false
}

// allowedInTest reports whether a test of from may import to.
func allowedInTest(from, to string) bool {
	parts := strings.Split(to, "/")
	// The Connect clients are tested against the real Connect handlers:
	// the peer on the other end of their wire, not a sideways dependency.
	if from == "connectclient" && to == "rpc" {
		return true
	}
	return allowed(from, to) || strings.HasSuffix(parts[len(parts)-1], "test")
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		{"postgres/outbox", "rabbitmq", false},
		{"observability", "postgres", false},
		{"observability", "postgres/outbox", false},
		{"postgres/catalogstore", "postgres/ratingstore", false},
		{"postgres/ratingstore", "postgres/catalogstore", false},
		{"postgres", "postgres/outbox", false},
		{"postgres/outbox", "postgres/catalogstore", false},
		{"rpc", "auth", false},
		{"rabbitmq", "events", true},
		{"rpc", "protoconv", true},
		{"postgres/catalogstore", "protoconv", true},
		{"postgres/outbox", "events", true},
		{"postgres/catalogstore", "postgres", true},
		{"postgres/catalogstore", "postgres/outbox", true},
		{"postgres/outbox", "postgres", true},
		{"auth/authtest", "auth", true},
	}
	for _, c := range cases {
		if got := allowed(c.from, c.to); got != c.want {
			t.Errorf("allowed(%s -> %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	if !allowedInTest("postgres/catalogstore", "postgres/pgtest") || allowedInTest("postgres/outbox", "rabbitmq") {
		t.Error("allowedInTest")
	}
}

func TestAdaptersDoNotImportEachOther(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var checked int
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		from := rel(p.ImportPath)
		if from == "" {
			continue
		}
		checked++
		for _, d := range p.Deps {
			if to := rel(d); to != "" && !allowed(from, to) {
				t.Errorf("%s depends on the adapter %s", from, to)
			}
		}
		if len(p.GoFiles) == 0 {
			continue // tests only: imported by nothing
		}
		for _, d := range append(p.TestImports, p.XTestImports...) {
			if to := rel(d); to != "" && to != from && !allowedInTest(from, to) {
				t.Errorf("the tests of %s import the adapter %s", from, to)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list found only %d adapter packages", checked)
	}
}

// TestHelpersOnlyInTests: test-helper packages (a name ending in "test",
// such as the contract suites catalogtest and ratingtest, pgtest, authtest)
// are imported by tests only, never by code that ships.
func TestHelpersOnlyInTests(t *testing.T) {
	const module = "github.com/bookworm-store/bookworm/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	isHelper := func(p string) bool { return strings.HasPrefix(p, module) && strings.HasSuffix(p, "test") }
	var checked int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || isHelper(fields[0]) {
			continue
		}
		checked++
		for _, d := range fields[1:] {
			if isHelper(d) {
				t.Errorf("%s depends on the test helper %s", fields[0], d)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list found only %d packages", checked)
	}
}
