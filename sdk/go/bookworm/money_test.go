package bookworm

import "testing"

func TestMoneyRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		currency string
		minor    int64
		units    int64
		nanos    int32
	}{
		{"euros and cents", "EUR", 1299, 12, 990_000_000},
		{"cents only", "USD", 5, 0, 50_000_000},
		{"negative", "EUR", -250, -2, -500_000_000},
		{"yen has no minor unit", "JPY", 1500, 1500, 0},
		{"dinar has three digits", "KWD", 1234, 1, 234_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Money(tt.currency, tt.minor)
			if m.GetUnits() != tt.units || m.GetNanos() != tt.nanos || m.GetCurrencyCode() != tt.currency {
				t.Fatalf("Money(%s, %d) = %v, want %d units %d nanos", tt.currency, tt.minor, m, tt.units, tt.nanos)
			}
			got, err := MinorUnits(m)
			if err != nil || got != tt.minor {
				t.Fatalf("MinorUnits = %d, %v; want %d", got, err, tt.minor)
			}
		})
	}
}

func TestMinorUnitsRefusesFractions(t *testing.T) {
	m := Money("EUR", 100)
	m.Nanos = 5
	if _, err := MinorUnits(m); err == nil {
		t.Fatal("want an error for a fraction of a cent")
	}
	if _, err := MinorUnits(nil); err == nil {
		t.Fatal("want an error for no amount")
	}
}
