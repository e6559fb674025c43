package notification

import (
	"strconv"
	"strings"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// symbols are the currencies written with a symbol before the amount; any
// other is written after it by its ISO code ("12.50 CHF").
var symbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// FormatMoney writes an amount for a buyer: the currency's own number of
// decimals (from its minor units, never through a float), thousands
// grouped, "€1,234.50", "¥1,200", "12.500 KWD". The zero Money is "".
func FormatMoney(m money.Money) string {
	if m.IsZero() {
		return ""
	}
	exp := money.Exponent(m.Currency())
	v := uint64(m.Minor())
	sign := ""
	if m.Minor() < 0 {
		sign, v = "-", -v
	}
	scale := uint64(1)
	for range exp {
		scale *= 10
	}
	whole := group(strconv.FormatUint(v/scale, 10))
	num := whole
	if exp > 0 {
		frac := strconv.FormatUint(v%scale, 10)
		num += "." + strings.Repeat("0", exp-len(frac)) + frac
	}
	if s, ok := symbols[m.Currency()]; ok {
		return sign + s + num
	}
	return sign + num + " " + m.Currency()
}

// group puts a comma between each group of three digits.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for i := head; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}
