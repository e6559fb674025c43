// Package id makes and checks the identifiers of every BookWorm entity:
// UUIDv7 in canonical text form.
package id

import "github.com/google/uuid"

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
