package catalog

import (
	"strconv"

	"github.com/google/uuid"
)

// NewID returns a new UUIDv7: time-ordered, so fresh rows land at the end of
// their index.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// IsID reports whether s is a UUID in its canonical text form.
func IsID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// Etag returns the version tag of version.
func Etag(version int64) string { return strconv.FormatInt(version, 10) }

func fieldIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func strconvQuote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }
