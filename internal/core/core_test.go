// Package core_test keeps the core pure: it may import the standard library,
// other core packages and a short list of small pure libraries, never an
// adapter, a driver, a transport or generated code.
package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedThirdParty are the non-standard packages the core may depend on.
var allowedThirdParty = map[string]bool{
	"github.com/google/uuid": true,
	// singleflight shares one call among concurrent callers (the rating
	// context's review summaries): pure concurrency, no I/O.
	"golang.org/x/sync/singleflight": true,
}

func TestCoreImportsOnlyPurePackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const core = "github.com/bookworm-store/bookworm/internal/core"
	var checked int
	for _, pkg := range strings.Fields(string(out)) {
		checked++
		if pkg == core || strings.HasPrefix(pkg, core+"/") || allowedThirdParty[pkg] {
			continue
		}
		t.Errorf("internal/core depends on %s; the core may only use the standard library, core packages and %v", pkg, allowedThirdParty)
	}
	if checked == 0 {
		t.Fatal("go list found no core packages")
	}
}
