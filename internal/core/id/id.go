// Package id makes and checks the identifiers of every BookWorm entity:
// UUIDv7 in canonical text form (lowercase, hyphenated). Ids that arrive
// from outside (a client, another context's event) may spell hex digits in
// upper case; Canonical gives the one spelling that stores, caches, page
// tokens and events use, so nothing else lowers ids by hand.
package id

import (
	"strings"

	"github.com/google/uuid"
)

// New returns a new UUIDv7: time-ordered, so fresh rows land at the end of
// their index.
func New() string { return uuid.Must(uuid.NewV7()).String() }

// Valid reports whether s is a UUID in its canonical text form.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// Canonical returns s with its hex digits in lower case: the canonical text
// form of a valid UUID. It does not allocate when s is canonical already.
// Check s with Valid first; other strings only get lowered.
func Canonical(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
