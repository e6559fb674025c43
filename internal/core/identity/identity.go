// Package identity is the caller as the core sees it: a plain Principal value
// carried in the context, role checks and ownership checks. The transport
// (bearer tokens, OIDC, JWKS) stays in the auth adapter; nothing here knows
// what a JWT is.
package identity

import (
	"context"
	"fmt"
	"slices"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// The roles BookWorm's rules name. Issuers may grant others; they are carried
// but mean nothing to the core.
const (
	// RoleUser is a signed-in customer: own basket, own orders, own reviews.
	RoleUser = "user"
	// RoleAdmin may write the catalog, see every order and moderate reviews.
	RoleAdmin = "admin"
)

// Principal is an authenticated caller. The zero value is the anonymous
// caller.
type Principal struct {
	// Subject is the issuer's stable user id (the token's "sub"); it is the
	// owner id stored on a user's resources.
	Subject string
	// Email and Name are for display and notifications only; never decide
	// anything on them, issuers let users change both.
	Email string
	Name  string
	// Roles are the roles the issuer granted, deduplicated.
	Roles []string
	// Scopes are the OAuth scopes the token was issued with.
	Scopes []string
}

// Authenticated reports whether p is a signed-in caller.
func (p Principal) Authenticated() bool { return p.Subject != "" }

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool {
	return p.Authenticated() && slices.Contains(p.Roles, role)
}

// HasAnyRole reports whether p holds at least one of roles. With no roles it
// reports whether p is signed in: an empty role list means "any user".
func (p Principal) HasAnyRole(roles ...string) bool {
	if !p.Authenticated() {
		return false
	}
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// HasScope reports whether p's token was issued with scope.
func (p Principal) HasScope(scope string) bool {
	return p.Authenticated() && slices.Contains(p.Scopes, scope)
}

// String names the caller for logs without personal data: the subject only.
func (p Principal) String() string {
	if !p.Authenticated() {
		return "anonymous"
	}
	return "user:" + p.Subject
}

type contextKey struct{}

// WithPrincipal returns a context carrying p. The auth adapter calls it once
// per request, after verifying the caller's token.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the caller carried by ctx, or the anonymous Principal
// and false.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(Principal)
	if !ok || !p.Authenticated() {
		return Principal{}, false
	}
	return p, true
}

// Require returns the signed-in caller, or an ErrUnauthenticated error.
func Require(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, fmt.Errorf("%w: sign in required", failure.ErrUnauthenticated)
	}
	return p, nil
}

// RequireRole returns the signed-in caller when it holds at least one of
// roles; otherwise ErrUnauthenticated (anonymous) or ErrPermissionDenied.
func RequireRole(ctx context.Context, roles ...string) (Principal, error) {
	p, err := Require(ctx)
	if err != nil {
		return Principal{}, err
	}
	if !p.HasAnyRole(roles...) {
		return Principal{}, fmt.Errorf("%w: this requires one of the roles %v", failure.ErrPermissionDenied, roles)
	}
	return p, nil
}
