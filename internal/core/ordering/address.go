package ordering

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Limits of an address's fields.
const (
	MaxNameLen       = 100
	MaxAddressLines  = 3
	MaxLineLen       = 100
	MaxCityLen       = 100
	MaxRegionLen     = 100
	MaxPostalCodeLen = 16
)

// Address is a validated postal address.
type Address struct {
	name       string
	lines      []string
	city       string
	region     string
	postalCode string
	country    string
}

// AddressFields are the fields of an address as a client sends them.
type AddressFields struct {
	Name       string
	Lines      []string
	City       string
	Region     string
	PostalCode string
	// Country is an ISO 3166-1 alpha-2 code, for example "DE".
	Country string
}

// NewAddress checks and trims f. Violations name the fields as the request
// does ("name", "lines[1]", "country_code"); callers prefix them with the
// request field ("shipping_address").
func NewAddress(f AddressFields) (Address, error) {
	var v failure.Violations
	text := func(field, s string, max int, required bool) string {
		s = strings.TrimSpace(s)
		switch n := utf8.RuneCountInString(s); {
		case !utf8.ValidString(s):
			v.Add(field, "must be valid UTF-8")
		case hasControl(s):
			v.Add(field, "must not contain control characters")
		case required && n == 0:
			v.Add(field, "must not be empty")
		case n > max:
			v.Add(field, "must be at most "+strconv.Itoa(max)+" characters")
		}
		return s
	}
	a := Address{
		name:   text("name", f.Name, MaxNameLen, true),
		city:   text("city", f.City, MaxCityLen, true),
		region: text("region", f.Region, MaxRegionLen, false),
	}
	switch n := len(f.Lines); {
	case n == 0:
		v.Add("lines", "must have at least one line")
	case n > MaxAddressLines:
		v.Add("lines", "must have at most 3 lines")
	default:
		for i, l := range f.Lines {
			a.lines = append(a.lines, text("lines["+strconv.Itoa(i)+"]", l, MaxLineLen, true))
		}
	}
	pc := strings.ToUpper(text("postal_code", f.PostalCode, MaxPostalCodeLen, true))
	for _, r := range pc {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '-') {
			v.Add("postal_code", "may contain only letters, digits, spaces and hyphens")
			break
		}
	}
	a.postalCode = pc
	a.country = strings.TrimSpace(f.Country)
	if !countries[a.country] {
		v.Add("country_code", "must be an ISO 3166-1 alpha-2 country code in capitals, for example DE")
	}
	if err := v.Err(); err != nil {
		return Address{}, err
	}
	return a, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Fields returns the address's fields.
func (a Address) Fields() AddressFields {
	return AddressFields{Name: a.name, Lines: append([]string(nil), a.lines...), City: a.city, Region: a.region, PostalCode: a.postalCode, Country: a.country}
}

// IsZero reports whether a is the zero Address (never validated).
func (a Address) IsZero() bool { return a.country == "" }

// canonical is the address in one string, for the request fingerprint.
func (a Address) canonical() string {
	return strings.Join([]string{a.name, strings.Join(a.lines, "\x1e"), a.city, a.region, a.postalCode, a.country}, "\x1f")
}

// countries are the officially assigned ISO 3166-1 alpha-2 codes.
var countries = func() map[string]bool {
	const codes = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
		"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
		"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
		"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
		"NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
		"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
		"UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
	m := map[string]bool{}
	for _, c := range strings.Fields(codes) {
		m[c] = true
	}
	return m
}()
