package identity

import (
	"context"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Owns reports whether p is the signed-in owner ownerID. An empty ownerID is
// owned by nobody, so a resource whose owner was never recorded is never
// handed out.
func (p Principal) Owns(ownerID string) bool {
	return p.Authenticated() && ownerID != "" && p.Subject == ownerID
}

// MayAct reports whether p may act on a resource owned by ownerID: as its
// owner, or as a holder of one of overrideRoles (typically RoleAdmin).
func (p Principal) MayAct(ownerID string, overrideRoles ...string) bool {
	if p.Owns(ownerID) {
		return true
	}
	return len(overrideRoles) > 0 && p.HasAnyRole(overrideRoles...)
}

// CheckOwner is the ownership rule of the core: the caller in ctx must own
// the resource (or hold one of overrideRoles). For anybody else the answer is
// notFound, the very error the use case returns for a resource that does not
// exist, so a caller cannot tell another user's resource from a missing one.
// An anonymous caller gets ErrUnauthenticated.
//
//	if err := identity.CheckOwner(ctx, order.BuyerID, failure.NotFound("order %s not found", id), identity.RoleAdmin); err != nil {
//		return nil, err
//	}
func CheckOwner(ctx context.Context, ownerID string, notFound error, overrideRoles ...string) error {
	p, err := Require(ctx)
	if err != nil {
		return err
	}
	if p.MayAct(ownerID, overrideRoles...) {
		return nil
	}
	if notFound == nil {
		notFound = failure.NotFound("not found")
	}
	return notFound
}

// OwnerNotFound returns the NotFound error for kind id in the words the
// catalog uses ("book <id> not found"); use it with CheckOwner when the use
// case has no error of its own at hand.
func OwnerNotFound(kind, id string) error {
	return failure.NotFound("%s %s not found", kind, id)
}

// ListScope tells a list use case whose resources the caller may see: its
// own (owner is its subject) or, holding one of overrideRoles, everybody's
// (all is true and owner empty). An anonymous caller gets ErrUnauthenticated.
func ListScope(ctx context.Context, overrideRoles ...string) (owner string, all bool, err error) {
	p, err := Require(ctx)
	if err != nil {
		return "", false, err
	}
	if len(overrideRoles) > 0 && p.HasAnyRole(overrideRoles...) {
		return "", true, nil
	}
	return p.Subject, false, nil
}

// OwnerOf returns the owner id to record on a resource the caller creates,
// or ErrUnauthenticated. Use cases take the owner from here, never from the
// request, so nobody can create resources in another user's name.
func OwnerOf(ctx context.Context) (string, error) {
	p, err := Require(ctx)
	if err != nil {
		return "", err
	}
	return p.Subject, nil
}
