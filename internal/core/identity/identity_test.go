package identity_test

import (
	"context"
	"errors"
	"go/build"
	"strings"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

var (
	alice = identity.Principal{Subject: "alice", Roles: []string{identity.RoleUser}}
	bob   = identity.Principal{Subject: "bob", Roles: []string{identity.RoleUser}}
	admin = identity.Principal{Subject: "root", Roles: []string{identity.RoleUser, identity.RoleAdmin}}
	anon  = identity.Principal{}
	// ghost claims roles but has no subject: it must count as anonymous.
	ghost = identity.Principal{Roles: []string{identity.RoleAdmin}}
)

func ctxOf(p identity.Principal) context.Context {
	return identity.WithPrincipal(context.Background(), p)
}

func TestHasAnyRole(t *testing.T) {
	tests := []struct {
		name  string
		p     identity.Principal
		roles []string
		want  bool
	}{
		{"user holds user", alice, []string{identity.RoleUser}, true},
		{"user lacks admin", alice, []string{identity.RoleAdmin}, false},
		{"admin among several", admin, []string{"moderator", identity.RoleAdmin}, true},
		{"no roles means any signed-in user", alice, nil, true},
		{"anonymous with no roles", anon, nil, false},
		{"roles without subject count for nothing", ghost, []string{identity.RoleAdmin}, false},
		{"role names are case sensitive", alice, []string{"USER"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.HasAnyRole(tt.roles...); got != tt.want {
				t.Fatalf("HasAnyRole(%v) = %v, want %v", tt.roles, got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if _, ok := identity.FromContext(context.Background()); ok {
		t.Fatal("empty context carries a principal")
	}
	if _, ok := identity.FromContext(ctxOf(ghost)); ok {
		t.Fatal("a principal without subject counts as signed in")
	}
	got, ok := identity.FromContext(ctxOf(alice))
	if !ok || got.Subject != "alice" {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
	if _, err := identity.Require(context.Background()); !errors.Is(err, failure.ErrUnauthenticated) {
		t.Fatalf("Require(anonymous) = %v, want ErrUnauthenticated", err)
	}
}

func TestRequireRole(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"anonymous", context.Background(), failure.ErrUnauthenticated},
		{"user", ctxOf(alice), failure.ErrPermissionDenied},
		{"admin", ctxOf(admin), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identity.RequireRole(tt.ctx, identity.RoleAdmin)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("RequireRole = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckOwner(t *testing.T) {
	notFound := identity.OwnerNotFound("order", "o-1")
	tests := []struct {
		name     string
		ctx      context.Context
		owner    string
		override []string
		want     error
	}{
		{"owner", ctxOf(alice), "alice", nil, nil},
		{"another user", ctxOf(bob), "alice", nil, failure.ErrNotFound},
		{"another user with override configured", ctxOf(bob), "alice", []string{identity.RoleAdmin}, failure.ErrNotFound},
		{"admin without override is just another user", ctxOf(admin), "alice", nil, failure.ErrNotFound},
		{"admin with override", ctxOf(admin), "alice", []string{identity.RoleAdmin}, nil},
		{"anonymous", context.Background(), "alice", nil, failure.ErrUnauthenticated},
		{"nobody owns an empty owner", ctxOf(alice), "", nil, failure.ErrNotFound},
		{"subject prefix is not ownership", ctxOf(identity.Principal{Subject: "ali"}), "alice", nil, failure.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.CheckOwner(tt.ctx, tt.owner, notFound, tt.override...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckOwner = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckOwner = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCheckOwnerLeaksNothing pins the rule that another user's resource is
// indistinguishable from a missing one: same error, same message.
func TestCheckOwnerLeaksNothing(t *testing.T) {
	missing := identity.OwnerNotFound("basket", "b-9")
	err := identity.CheckOwner(ctxOf(bob), "alice", identity.OwnerNotFound("basket", "b-9"))
	if err == nil || err.Error() != missing.Error() {
		t.Fatalf("another user's resource: %v; a missing one: %v", err, missing)
	}
	if strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "permission") {
		t.Fatalf("error leaks the owner or the refusal: %q", err)
	}
	if err := identity.CheckOwner(ctxOf(bob), "alice", nil); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("nil notFound: %v", err)
	}
}

func TestListScope(t *testing.T) {
	tests := []struct {
		name      string
		ctx       context.Context
		wantOwner string
		wantAll   bool
		wantErr   error
	}{
		{"user sees own", ctxOf(alice), "alice", false, nil},
		{"admin sees all", ctxOf(admin), "", true, nil},
		{"anonymous", context.Background(), "", false, failure.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, all, err := identity.ListScope(tt.ctx, identity.RoleAdmin)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if owner != tt.wantOwner || all != tt.wantAll {
				t.Fatalf("ListScope = %q, %v; want %q, %v", owner, all, tt.wantOwner, tt.wantAll)
			}
		})
	}
}

func TestOwnerOf(t *testing.T) {
	if id, err := identity.OwnerOf(ctxOf(alice)); err != nil || id != "alice" {
		t.Fatalf("OwnerOf(alice) = %q, %v", id, err)
	}
	if _, err := identity.OwnerOf(context.Background()); !errors.Is(err, failure.ErrUnauthenticated) {
		t.Fatalf("OwnerOf(anonymous) = %v", err)
	}
}

func TestString(t *testing.T) {
	if s := alice.String(); s != "user:alice" {
		t.Fatalf("String = %q", s)
	}
	p := identity.Principal{Subject: "x", Email: "x@example.com", Name: "X Y"}
	if s := p.String(); strings.Contains(s, "@") || strings.Contains(s, "X Y") {
		t.Fatalf("String leaks personal data: %q", s)
	}
	if s := anon.String(); s != "anonymous" {
		t.Fatalf("String = %q", s)
	}
}

// TestPure keeps the package free of adapters: standard library and the
// core's failure package only.
func TestPure(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found: the check would pass vacuously")
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && !strings.HasPrefix(imp, "github.com/bookworm-store/bookworm/internal/core/") {
			t.Errorf("identity imports %s", imp)
		}
	}
}
