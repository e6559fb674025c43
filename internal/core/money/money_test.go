package money_test

import (
	"errors"
	"math"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

const limit = int64(1) << 53

func TestFromUnitsNanos(t *testing.T) {
	tests := []struct {
		name     string
		currency string
		units    int64
		nanos    int32
		want     int64 // minor units, when ok
		ok       bool
	}{
		// EUR: two decimals, a cent is 10,000,000 nanos.
		{"EUR units and cents", "EUR", 12, 990_000_000, 1299, true},
		{"EUR one cent", "EUR", 0, 10_000_000, 1, true},
		{"EUR zero", "EUR", 0, 0, 0, true},
		{"EUR whole units", "EUR", 7, 0, 700, true},
		{"EUR negative", "EUR", -12, -990_000_000, -1299, true},
		{"EUR negative cents only", "EUR", 0, -10_000_000, -1, true},
		{"EUR half a cent", "EUR", 0, 5_000_000, 0, false},
		{"EUR one nano", "EUR", 1, 1, 0, false},
		{"EUR largest nanos not whole cents", "EUR", 12, 999_999_999, 0, false},
		{"EUR positive units negative nanos", "EUR", 12, -10_000_000, 0, false},
		{"EUR negative units positive nanos", "EUR", -1, 10_000_000, 0, false},
		{"EUR nanos a whole unit", "EUR", 0, 1_000_000_000, 0, false},
		{"EUR nanos minus a whole unit", "EUR", 0, -1_000_000_000, 0, false},
		{"EUR largest units", "EUR", limit / 100, 0, limit / 100 * 100, true},
		{"EUR exactly the bound", "EUR", limit / 100, 920_000_000, limit, true},
		{"EUR one cent past the bound", "EUR", limit / 100, 930_000_000, 0, false},
		{"EUR units past the bound", "EUR", limit/100 + 1, 0, 0, false},
		{"EUR exactly minus the bound", "EUR", -limit / 100, -920_000_000, -limit, true},
		{"EUR one cent below minus the bound", "EUR", -limit / 100, -930_000_000, 0, false},
		{"EUR units below minus the bound", "EUR", -limit/100 - 1, 0, 0, false},
		{"EUR max int64 units", "EUR", math.MaxInt64, 0, 0, false},
		{"EUR min int64 units", "EUR", math.MinInt64, 0, 0, false},
		// JPY: no minor unit.
		{"JPY whole yen", "JPY", 1500, 0, 1500, true},
		{"JPY negative", "JPY", -3, 0, -3, true},
		{"JPY any fraction", "JPY", 1500, 500_000_000, 0, false},
		{"JPY smallest fraction", "JPY", 0, 1, 0, false},
		{"JPY the bound", "JPY", limit, 0, limit, true},
		{"JPY minus the bound", "JPY", -limit, 0, -limit, true},
		{"JPY past the bound", "JPY", limit + 1, 0, 0, false},
		// KWD: three decimals, a fils is 1,000,000 nanos.
		{"KWD three decimals", "KWD", 1, 234_000_000, 1234, true},
		{"KWD one fils", "KWD", 0, 1_000_000, 1, true},
		{"KWD negative", "KWD", -1, -1_000_000, -1001, true},
		{"KWD fourth decimal", "KWD", 1, 234_500_000, 0, false},
		{"KWD largest units", "KWD", limit / 1000, 0, limit / 1000 * 1000, true},
		{"KWD units past the bound", "KWD", limit/1000 + 1, 0, 0, false},
		// Currency codes.
		{"lower case currency", "eur", 1, 0, 0, false},
		{"two letters", "EU", 1, 0, 0, false},
		{"four letters", "EURO", 1, 0, 0, false},
		{"empty currency", "", 1, 0, 0, false},
		{"digit in currency", "E1R", 1, 0, 0, false},
		{"non-ASCII currency", "ÉU", 1, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := money.FromUnitsNanos(tt.currency, tt.units, tt.nanos)
			if !tt.ok {
				if err == nil {
					t.Fatalf("FromUnitsNanos(%q, %d, %d) = %v, want an error", tt.currency, tt.units, tt.nanos, m)
				}
				if m != (money.Money{}) {
					t.Errorf("FromUnitsNanos returned %v with its error, want the zero Money", m)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromUnitsNanos(%q, %d, %d): %v", tt.currency, tt.units, tt.nanos, err)
			}
			if m.Currency() != tt.currency || m.Minor() != tt.want {
				t.Fatalf("FromUnitsNanos = %s %d, want %s %d", m.Currency(), m.Minor(), tt.currency, tt.want)
			}
			if m.IsZero() {
				t.Error("a converted amount reports IsZero")
			}
		})
	}
}

func TestBadCurrencyIsErrCurrency(t *testing.T) {
	for _, c := range []string{"", "eur", "EU", "EURO", "E1R", "€€€"} {
		t.Run(c, func(t *testing.T) {
			if _, err := money.FromUnitsNanos(c, 1, 0); !errors.Is(err, money.ErrCurrency) {
				t.Errorf("FromUnitsNanos: err = %v, want ErrCurrency", err)
			}
			if _, err := money.New(c, 100); !errors.Is(err, money.ErrCurrency) {
				t.Errorf("New: err = %v, want ErrCurrency", err)
			}
		})
	}
}

func TestExponent(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{{"EUR", 2}, {"USD", 2}, {"JPY", 0}, {"KRW", 0}, {"KWD", 3}, {"BHD", 3}, {"XYZ", 2}}
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			if got := money.Exponent(tt.currency); got != tt.want {
				t.Fatalf("Exponent = %d, want %d", got, tt.want)
			}
		})
	}
}

// mustMoney returns minor minor units of currency.
func mustMoney(t *testing.T, currency string, minor int64) money.Money {
	t.Helper()
	m, err := money.New(currency, minor)
	if err != nil {
		t.Fatalf("money.New(%q, %d): %v", currency, minor, err)
	}
	return m
}

func TestUnitsNanosRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		currency  string
		minor     int64
		wantUnits int64
		wantNanos int32
	}{
		{"EUR", "EUR", 1299, 12, 990_000_000},
		{"EUR cents only", "EUR", 5, 0, 50_000_000},
		{"EUR zero", "EUR", 0, 0, 0},
		{"EUR negative", "EUR", -1299, -12, -990_000_000},
		{"EUR negative cents only", "EUR", -5, 0, -50_000_000},
		{"EUR the bound", "EUR", limit, limit / 100, 920_000_000},
		{"EUR minus the bound", "EUR", -limit, -limit / 100, -920_000_000},
		{"JPY", "JPY", 1500, 1500, 0},
		{"JPY negative", "JPY", -3, -3, 0},
		{"KWD", "KWD", 1234, 1, 234_000_000},
		{"KWD negative fils", "KWD", -1, 0, -1_000_000},
		{"KWD negative", "KWD", -1001, -1, -1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustMoney(t, tt.currency, tt.minor)
			units, nanos := m.UnitsNanos()
			if units != tt.wantUnits || nanos != tt.wantNanos {
				t.Fatalf("UnitsNanos = (%d, %d), want (%d, %d)", units, nanos, tt.wantUnits, tt.wantNanos)
			}
			back, err := money.FromUnitsNanos(tt.currency, units, nanos)
			if err != nil {
				t.Fatalf("FromUnitsNanos(UnitsNanos()): %v", err)
			}
			if back != m {
				t.Fatalf("round trip = %v, want %v", back, m)
			}
		})
	}
}

func TestZeroMoney(t *testing.T) {
	var m money.Money
	if !m.IsZero() {
		t.Fatal("zero Money is not IsZero")
	}
	if units, nanos := m.UnitsNanos(); units != 0 || nanos != 0 {
		t.Fatalf("zero Money UnitsNanos = (%d, %d)", units, nanos)
	}
	if mustMoney(t, "EUR", 0).IsZero() {
		t.Fatal("0 EUR reports IsZero; only the absence of an amount should")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		m    money.Money
		want string
	}{
		{"none", money.Money{}, "none"},
		{"EUR", mustMoney(t, "EUR", 1299), "12.99 EUR"},
		{"EUR leading zero cents", mustMoney(t, "EUR", 5), "0.05 EUR"},
		{"EUR zero", mustMoney(t, "EUR", 0), "0.00 EUR"},
		{"EUR negative", mustMoney(t, "EUR", -1299), "-12.99 EUR"},
		{"EUR negative cents only", mustMoney(t, "EUR", -5), "-0.05 EUR"},
		{"EUR max int64", mustMoney(t, "EUR", math.MaxInt64), "92233720368547758.07 EUR"},
		{"EUR min int64", mustMoney(t, "EUR", math.MinInt64), "-92233720368547758.08 EUR"},
		{"JPY", mustMoney(t, "JPY", 1500), "1500 JPY"},
		{"JPY negative", mustMoney(t, "JPY", -3), "-3 JPY"},
		{"KWD", mustMoney(t, "KWD", 1234), "1.234 KWD"},
		{"KWD one fils", mustMoney(t, "KWD", 1), "0.001 KWD"},
		{"KWD negative", mustMoney(t, "KWD", -1001), "-1.001 KWD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.String(); got != tt.want {
				t.Fatalf("String = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	eur := func(minor int64) money.Money { return mustMoney(t, "EUR", minor) }
	tests := []struct {
		name    string
		a, b    money.Money
		want    money.Money
		wantErr error
	}{
		{"cents", eur(1299), eur(1), eur(1300), nil},
		{"negative", eur(-5), eur(3), eur(-2), nil},
		{"zero Money plus an amount", money.Money{}, eur(7), eur(7), nil},
		{"an amount plus the zero Money", eur(7), money.Money{}, eur(7), nil},
		{"up to the limit", eur(limit - 1), eur(1), eur(limit), nil},
		{"past the limit", eur(limit), eur(1), money.Money{}, money.ErrTooLarge},
		{"past minus the limit", eur(-limit), eur(-1), money.Money{}, money.ErrTooLarge},
		{"two currencies", eur(1), mustMoney(t, "USD", 1), money.Money{}, money.ErrCurrencyMismatch},
		{"max int64 operands do not wrap", eur(math.MaxInt64), eur(math.MaxInt64), money.Money{}, money.ErrTooLarge},
		{"min int64 operand", eur(math.MinInt64), eur(-1), money.Money{}, money.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.Add(tt.b)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("%v + %v = %v, %v; want %v, %v", tt.a, tt.b, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	eur := func(minor int64) money.Money { return mustMoney(t, "EUR", minor) }
	tests := []struct {
		name    string
		m       money.Money
		n       int64
		want    money.Money
		wantErr error
	}{
		{"a price times a quantity", eur(1299), 3, eur(3897), nil},
		{"times zero", eur(1299), 0, eur(0), nil},
		{"times minus one", eur(1299), -1, eur(-1299), nil},
		{"exactly the limit", eur(limit / 4), 4, eur(limit), nil},
		{"just past the limit", eur(limit/4 + 1), 4, money.Money{}, money.ErrTooLarge},
		{"the largest price times the largest int32", eur(limit), math.MaxInt32, money.Money{}, money.ErrTooLarge},
		{"a cent times max int64", eur(1), math.MaxInt64, money.Money{}, money.ErrTooLarge},
		{"a cent times min int64", eur(1), math.MinInt64, money.Money{}, money.ErrTooLarge},
		{"minus a cent times min int64 does not wrap", eur(-1), math.MinInt64, money.Money{}, money.ErrTooLarge},
		{"an amount beyond the limit", eur(math.MaxInt64), 1, money.Money{}, money.ErrTooLarge},
		{"min int64 amount", eur(math.MinInt64), -1, money.Money{}, money.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Times(tt.n)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("%v × %d = %v, %v; want %v, %v", tt.m, tt.n, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestFromUnitsNanosBoundIsLimit: the largest amount a client can send is
// money.Limit, so the arithmetic above starts from bounded operands.
func TestFromUnitsNanosBoundIsLimit(t *testing.T) {
	for _, c := range []string{"JPY", "EUR", "KWD"} {
		for _, units := range []int64{math.MaxInt64, math.MinInt64, money.Limit, -money.Limit, money.Limit + 1} {
			m, err := money.FromUnitsNanos(c, units, 0)
			if err == nil && (m.Minor() > money.Limit || m.Minor() < -money.Limit) {
				t.Fatalf("FromUnitsNanos(%s, %d) = %d minor units, beyond the limit", c, units, m.Minor())
			}
			if err != nil && !errors.Is(err, money.ErrTooLarge) {
				t.Fatalf("FromUnitsNanos(%s, %d): %v, want ErrTooLarge", c, units, err)
			}
		}
	}
}
