package bookworm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sdkModules are the modules in the module graph of a program using the
// Connect SDK, as the README's "Go SDK" section lists them. The last two are
// only in go.mod files (test requirements of connect and protobuf): no
// package of theirs is built.
var sdkModules = []string{
	"connectrpc.com/connect",
	"google.golang.org/protobuf",
	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go",
	"github.com/google/go-cmp",
	"github.com/golang/protobuf",
}

// sdkPackageModules are the modules whose packages such a program builds.
var sdkPackageModules = sdkModules[:3]

// TestResellerDependencies builds a reseller's module (its own go.mod, the
// SDK replaced by this directory) and checks what it pulls: with the Connect
// SDK only the modules the README names and no grpc; with the grpc-go stubs
// (module sdk/go/grpc) grpc as well. The go command finds the modules in the
// module cache (the SDK's own tests put them there) or asks the module proxy
// the environment names.
func TestResellerDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	sdk, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	connectOnly := `package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

func main() {
	catalog := bookworm.NewCatalogClient("http://127.0.0.1:8080", bookworm.WithToken("t"))
	rating := bookworm.NewRatingClient("http://127.0.0.1:8080")
	_, err := catalog.SearchBooks(context.Background(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: "x"}))
	_, err2 := rating.GetRatingSummary(context.Background(), connect.NewRequest(&ratingv1.GetRatingSummaryRequest{}))
	fmt.Println(err, err2)
}
`
	grpcUser := `package main

import (
	"fmt"

	"github.com/bookworm-store/bookworm/sdk/go/grpc/gen/bookworm/catalog/v1/catalogv1grpc"
	"google.golang.org/grpc"
)

func main() {
	var conn *grpc.ClientConn
	fmt.Println(catalogv1grpc.NewCatalogServiceClient(conn) != nil)
}
`
	t.Run("connect only", func(t *testing.T) {
		dir := reseller(t, connectOnly, "require github.com/bookworm-store/bookworm/sdk/go v0.0.0\nreplace github.com/bookworm-store/bookworm/sdk/go => "+sdk+"\n")
		deps := goList(t, dir, "list", "-deps", "./...")
		mods := goList(t, dir, "list", "-m", "all")
		for _, d := range append(deps, mods...) {
			if strings.HasPrefix(d, "google.golang.org/grpc") || strings.HasPrefix(d, "google.golang.org/genproto") {
				t.Errorf("the Connect SDK pulls %s", d)
			}
		}
		for _, p := range deps {
			if !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") || strings.HasPrefix(p, "example.com/reseller") ||
				strings.HasPrefix(p, "github.com/bookworm-store/bookworm/sdk/go/") {
				continue // the standard library, the reseller, the SDK
			}
			if !slices.ContainsFunc(sdkPackageModules, func(m string) bool { return p == m || strings.HasPrefix(p, m+"/") }) {
				t.Errorf("the Connect SDK builds package %s, outside %v", p, sdkPackageModules)
			}
		}
		readme, err := os.ReadFile(filepath.Join(sdk, "..", "..", "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mods[1:] { // the first is the reseller's own module
			path := strings.Fields(m)[0]
			if path == "github.com/bookworm-store/bookworm/sdk/go" {
				continue
			}
			if !slices.Contains(sdkModules, path) {
				t.Errorf("the Connect SDK pulls module %s, which is not among %v", m, sdkModules)
			}
			if !strings.Contains(string(readme), "`"+path+"`") {
				t.Errorf("the README does not name module %s", path)
			}
		}
		if len(mods) != len(sdkModules)+2 {
			t.Errorf("modules %v, want the reseller, the SDK and %v", mods, sdkModules)
		}
	})
	t.Run("grpc-go stubs", func(t *testing.T) {
		dir := reseller(t, grpcUser, "require github.com/bookworm-store/bookworm/sdk/go/grpc v0.0.0\nreplace github.com/bookworm-store/bookworm/sdk/go/grpc => "+filepath.Join(sdk, "grpc")+"\nreplace github.com/bookworm-store/bookworm/sdk/go => "+sdk+"\n")
		deps := goList(t, dir, "list", "-deps", "./...")
		if !slices.Contains(deps, "google.golang.org/grpc") || !slices.Contains(deps, "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1") {
			t.Fatalf("a grpc-go user's dependencies lack grpc or the messages: %v", deps)
		}
	})
}

// reseller writes a module with main.go and the go.mod lines, tidies it,
// and returns its directory.
func reseller(t *testing.T, main, gomod string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/reseller\n\ngo 1.26.0\n\n"+gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	// The SDK's checksums, so that tidy has little to look up.
	var sums []byte
	for _, f := range []string{"go.sum", "grpc/go.sum"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	goList(t, dir, "mod", "tidy")
	goList(t, dir, "build", "-o", os.DevNull, ".")
	return dir
}

// goList runs the go command in dir, offline, and returns its output lines.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if len(out) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
