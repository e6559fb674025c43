package catalog

import "strings"

// NormalizeISBN strips the hyphens and spaces people write ISBNs with and
// checks that what remains is an ISBN-13 with a valid check digit. It
// returns the 13 digits.
func NormalizeISBN(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	d := b.String()
	if len(d) != 13 || !(strings.HasPrefix(d, "978") || strings.HasPrefix(d, "979")) {
		return "", false
	}
	sum := 0
	for i := 0; i < 12; i++ {
		n := int(d[i] - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	if (10-sum%10)%10 != int(d[12]-'0') {
		return "", false
	}
	return d, true
}
