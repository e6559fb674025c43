package money

import (
	"errors"
	"math"
)

// ErrCurrencyMismatch is returned when two amounts of different currencies
// meet in one sum.
var ErrCurrencyMismatch = errors.New("amounts are in different currencies")

// ErrOverflow is returned when a sum or product leaves the range of exact
// amounts (±2^53 minor units, the range a float64 and JSON carry exactly).
var ErrOverflow = errors.New("amount is too large")

// maxMinor bounds every computed amount, as FromUnitsNanos bounds parsed ones.
const maxMinor = int64(1) << 53

// Add returns m + o. Both must be in the same currency; the zero Money counts
// as "nothing yet", so Money{}.Add(x) is x and a total can start from zero.
func (m Money) Add(o Money) (Money, error) {
	switch {
	case m.IsZero():
		return o, nil
	case o.IsZero():
		return m, nil
	case m.currency != o.currency:
		return Money{}, ErrCurrencyMismatch
	}
	s := m.minor + o.minor
	if s > maxMinor || s < -maxMinor {
		return Money{}, ErrOverflow
	}
	return Money{currency: m.currency, minor: s}, nil
}

// Mul returns m × n, for a line total (unit price × quantity). The result is
// checked against overflow before it is computed.
func (m Money) Mul(n int64) (Money, error) {
	if m.IsZero() {
		return Money{}, nil
	}
	if n == math.MinInt64 {
		return Money{}, ErrOverflow
	}
	if n != 0 && (m.minor > math.MaxInt64/abs(n) || m.minor < -math.MaxInt64/abs(n)) {
		return Money{}, ErrOverflow
	}
	p := m.minor * n
	if p > maxMinor || p < -maxMinor {
		return Money{}, ErrOverflow
	}
	return Money{currency: m.currency, minor: p}, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
