package protoconv

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

func TestMoney(t *testing.T) {
	if Money(money.Money{}) != nil {
		t.Error("the zero Money is not nil")
	}
	for _, c := range []struct {
		currency string
		minor    int64
		units    int64
		nanos    int32
	}{
		{"EUR", 1999, 19, 990_000_000},
		{"JPY", 1500, 1500, 0},
		{"EUR", 5, 0, 50_000_000},
	} {
		m, err := money.New(c.currency, c.minor)
		if err != nil {
			t.Fatal(err)
		}
		p := Money(m)
		if p.GetCurrencyCode() != c.currency || p.GetUnits() != c.units || p.GetNanos() != c.nanos {
			t.Errorf("Money(%s %d) = %v, want %d units %d nanos", c.currency, c.minor, p, c.units, c.nanos)
		}
	}
}
