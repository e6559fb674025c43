package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
)

// tierCaller says who falls in each rate limit tier, for --help.
var tierCaller = map[auth.Tier]string{
	auth.TierAnonymous:   "client address without a token",
	auth.TierUser:        "signed-in user",
	auth.TierAdmin:       "caller with the admin role",
	auth.TierIntegration: "caller with the " + auth.RoleIntegration + " role or the " + auth.ScopeIntegration + " scope (resellers' bulk jobs)",
}

// formatBudget writes b as --rate-<tier> reads it.
func formatBudget(b auth.Budget) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return fmt.Sprintf("read=%s,read-burst=%d,write=%s,write-burst=%d", f(b.ReadRate), b.ReadBurst, f(b.WriteRate), b.WriteBurst)
}

// parseBudget reads a budget written "read=50,read-burst=100,write=10,
// write-burst=30"; keys left out keep their value in def.
func parseBudget(spec string, def auth.Budget) (auth.Budget, error) {
	b := def
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return def, fmt.Errorf("%q is not key=value (keys: read, read-burst, write, write-burst)", part)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "read", "write":
			r, err := strconv.ParseFloat(value, 64)
			if err != nil || !(r > 0) || math.IsInf(r, 0) || r > 1e6 {
				return def, fmt.Errorf("%s=%q must be a number of calls per second above 0 and at most 1000000", key, value)
			}
			if key == "read" {
				b.ReadRate = r
			} else {
				b.WriteRate = r
			}
		case "read-burst", "write-burst":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 1e6 {
				return def, fmt.Errorf("%s=%q must be a whole number of calls between 1 and 1000000", key, value)
			}
			if key == "read-burst" {
				b.ReadBurst = n
			} else {
				b.WriteBurst = n
			}
		default:
			return def, fmt.Errorf("unknown key %q (keys: read, read-burst, write, write-burst)", key)
		}
	}
	if err := b.Validate(); err != nil {
		return def, err
	}
	return b, nil
}
