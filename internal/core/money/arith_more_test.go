package money_test

import (
	"errors"
	"math"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

func TestAddStartsFromZero(t *testing.T) {
	eur := func(n int64) money.Money { return mustMoney(t, "EUR", n) }
	tests := []struct {
		name    string
		a, b    money.Money
		want    money.Money
		wantErr error
	}{
		{"same currency", eur(1299), eur(1), eur(1300), nil},
		{"zero value left", money.Money{}, eur(5), eur(5), nil},
		{"zero value right", eur(5), money.Money{}, eur(5), nil},
		{"both zero values", money.Money{}, money.Money{}, money.Money{}, nil},
		{"other currency", eur(1), mustMoney(t, "USD", 1), money.Money{}, money.ErrCurrencyMismatch},
		{"up to the bound", eur(limit - 1), eur(1), eur(limit), nil},
		{"past the bound", eur(limit), eur(1), money.Money{}, money.ErrTooLarge},
		{"below minus the bound", eur(-limit), eur(-1), money.Money{}, money.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.Add(tt.b)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Add err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Add = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimesLineTotals(t *testing.T) {
	eur := func(n int64) money.Money { return mustMoney(t, "EUR", n) }
	tests := []struct {
		name    string
		m       money.Money
		n       int64
		want    money.Money
		wantErr error
	}{
		{"line total", eur(1299), 3, eur(3897), nil},
		{"times zero", eur(1299), 0, eur(0), nil},
		{"times one", eur(1299), 1, eur(1299), nil},
		{"zero value", money.Money{}, 7, money.Money{}, nil},
		{"up to the bound", eur(limit / 2), 2, eur(limit), nil},
		{"past the bound", eur(limit/2 + 1), 2, money.Money{}, money.ErrTooLarge},
		{"int64 overflow", eur(math.MaxInt64 / 2), 99, money.Money{}, money.ErrTooLarge},
		{"negative int64 overflow", eur(math.MinInt64 / 2), 99, money.Money{}, money.ErrTooLarge},
		{"negative factor", eur(5), -2, eur(-10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Times(tt.n)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Mul err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Mul = %v, want %v", got, tt.want)
			}
		})
	}
}
