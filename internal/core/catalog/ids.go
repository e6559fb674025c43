package catalog

import (
	"strconv"
)

// Etag returns the version tag of version.
func Etag(version int64) string { return strconv.FormatInt(version, 10) }

func fieldIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func strconvQuote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }
