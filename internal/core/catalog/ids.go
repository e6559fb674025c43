package catalog

import (
	"strconv"

	"github.com/bookworm-store/bookworm/internal/core/id"
)

// NewID returns a new entity id (a UUIDv7).
func NewID() string { return id.New() }

// IsID reports whether s is a UUID in its canonical text form.
func IsID(s string) bool { return id.Valid(s) }

// Etag returns the version tag of version.
func Etag(version int64) string { return strconv.FormatInt(version, 10) }

func fieldIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func strconvQuote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }
