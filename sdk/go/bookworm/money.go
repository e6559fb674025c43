package bookworm

import (
	"errors"
	"fmt"

	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// minorDigits lists the currencies whose minor unit is not a hundredth; it
// matches the server's table.
var minorDigits = map[string]int{
	"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "UGX": 0, "XAF": 0, "XOF": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}

func scale(currency string) (perUnit int64, nanosPerMinor int64) {
	d, ok := minorDigits[currency]
	if !ok {
		d = 2
	}
	perUnit, nanosPerMinor = 1, 1_000_000_000
	for range d {
		perUnit *= 10
		nanosPerMinor /= 10
	}
	return perUnit, nanosPerMinor
}

// Money returns minor minor units of currency (1299, "EUR" is 12.99 EUR) as
// the contract's Money.
func Money(currency string, minor int64) *typev1.Money {
	perUnit, nanosPerMinor := scale(currency)
	return &typev1.Money{CurrencyCode: currency, Units: minor / perUnit, Nanos: int32((minor % perUnit) * nanosPerMinor)}
}

// MinorUnits returns m as a count of its currency's minor units, refusing
// amounts with fractions of a minor unit.
func MinorUnits(m *typev1.Money) (int64, error) {
	if m == nil {
		return 0, errors.New("no amount")
	}
	perUnit, nanosPerMinor := scale(m.GetCurrencyCode())
	if int64(m.GetNanos())%nanosPerMinor != 0 {
		return 0, fmt.Errorf("%d nanos is not a whole number of %s minor units", m.GetNanos(), m.GetCurrencyCode())
	}
	return m.GetUnits()*perUnit + int64(m.GetNanos())/nanosPerMinor, nil
}
