// Package money is exact money: an integer count of a currency's minor units
// (cents for EUR), never a float.
package money

import (
	"errors"
	"fmt"
	"math"
)

// Money is an amount in one currency. The zero value is "no amount".
type Money struct {
	currency string
	minor    int64
}

// exponents lists the ISO 4217 currencies whose minor unit is not 1/100.
var exponents = map[string]int{
	"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "UGX": 0, "XAF": 0, "XOF": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}

// Exponent returns the number of decimal digits of currency's minor unit.
func Exponent(currency string) int {
	if e, ok := exponents[currency]; ok {
		return e
	}
	return 2
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// ErrCurrency is returned for a currency code that is not three capital letters.
var ErrCurrency = errors.New("currency code must be three capital letters (ISO 4217)")

// Limit is the largest amount, in minor units, that BookWorm accepts or
// computes: 2^53, so that every amount is exact as a float64 (JSON numbers,
// JavaScript) and the sum of any two accepted amounts fits an int64 many
// times over.
const Limit = int64(1) << 53

// ErrTooLarge is returned for an amount beyond ±Limit minor units, given or
// computed (a price times a quantity, a sum).
var ErrTooLarge = errors.New("amount is too large")

// ErrCurrencyMismatch is returned when amounts of two currencies are combined.
var ErrCurrencyMismatch = errors.New("amounts are in different currencies")

// New returns minor minor units of currency.
func New(currency string, minor int64) (Money, error) {
	if !validCurrency(currency) {
		return Money{}, ErrCurrency
	}
	return Money{currency: currency, minor: minor}, nil
}

// FromUnitsNanos converts the google.type.Money representation (whole units
// plus nano units of the same sign) into minor units, refusing amounts that
// are not a whole number of minor units.
func FromUnitsNanos(currency string, units int64, nanos int32) (Money, error) {
	if !validCurrency(currency) {
		return Money{}, ErrCurrency
	}
	if nanos <= -1e9 || nanos >= 1e9 {
		return Money{}, errors.New("nanos must be between -999999999 and 999999999")
	}
	if (units > 0 && nanos < 0) || (units < 0 && nanos > 0) {
		return Money{}, errors.New("units and nanos must have the same sign")
	}
	exp := Exponent(currency)
	step := int64(1)
	for i := 0; i < 9-exp; i++ {
		step *= 10
	}
	if int64(nanos)%step != 0 {
		return Money{}, fmt.Errorf("%s amounts have at most %d decimal places", currency, exp)
	}
	scale := int64(1)
	for i := 0; i < exp; i++ {
		scale *= 10
	}
	// The bound is on the minor units (2^53, exact as a float64); units are
	// checked first only so that units*scale cannot overflow.
	if units > Limit/scale || units < -Limit/scale {
		return Money{}, ErrTooLarge
	}
	minor := units*scale + int64(nanos)/step
	if minor > Limit || minor < -Limit {
		return Money{}, ErrTooLarge
	}
	return Money{currency: currency, minor: minor}, nil
}

// Currency returns the ISO 4217 code.
func (m Money) Currency() string { return m.currency }

// Minor returns the amount in minor units.
func (m Money) Minor() int64 { return m.minor }

// IsZero reports whether m is the zero value (no currency).
func (m Money) IsZero() bool { return m.currency == "" }

// UnitsNanos returns the google.type.Money representation.
func (m Money) UnitsNanos() (units int64, nanos int32) {
	exp := Exponent(m.currency)
	scale, step := int64(1), int64(1)
	for i := 0; i < exp; i++ {
		scale *= 10
	}
	for i := 0; i < 9-exp; i++ {
		step *= 10
	}
	return m.minor / scale, int32((m.minor % scale) * step)
}

// String formats m like "12.99 EUR".
func (m Money) String() string {
	if m.IsZero() {
		return "none"
	}
	exp := Exponent(m.currency)
	if exp == 0 {
		return fmt.Sprintf("%d %s", m.minor, m.currency)
	}
	scale := int64(1)
	for i := 0; i < exp; i++ {
		scale *= 10
	}
	// uint64 so that the magnitude of math.MinInt64 does not overflow.
	sign, v := "", uint64(m.minor)
	if m.minor < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, v/uint64(scale), exp, v%uint64(scale), m.currency)
}

// Add returns m + o. It refuses amounts in different currencies and a sum
// beyond ±Limit, so that adding up client-supplied amounts (line totals,
// an order's total) can never overflow or lose precision. Adding to the
// zero Money returns the other amount.
func (m Money) Add(o Money) (Money, error) {
	switch {
	case m.IsZero():
		return o, nil
	case o.IsZero():
		return m, nil
	case m.currency != o.currency:
		return Money{}, ErrCurrencyMismatch
	}
	// With both within ±Limit the sum cannot overflow an int64. (New, the
	// constructor for trusted values, does not bound them.)
	if !within(m.minor) || !within(o.minor) {
		return Money{}, ErrTooLarge
	}
	sum := m.minor + o.minor
	if !within(sum) {
		return Money{}, ErrTooLarge
	}
	return Money{currency: m.currency, minor: sum}, nil
}

// Times returns m × n (a unit price times a quantity), refusing a product
// beyond ±Limit instead of overflowing.
func (m Money) Times(n int64) (Money, error) {
	if m.IsZero() || n == 0 {
		return Money{currency: m.currency}, nil
	}
	if !within(m.minor) || n == math.MinInt64 {
		return Money{}, ErrTooLarge
	}
	// Divide instead of multiplying first: the product may not fit.
	a, b := m.minor, n
	if a < 0 {
		a = -a
	}
	if b < 0 {
		b = -b
	}
	if a > Limit/b {
		return Money{}, ErrTooLarge
	}
	return Money{currency: m.currency, minor: m.minor * n}, nil
}

func within(minor int64) bool { return minor <= Limit && minor >= -Limit }
