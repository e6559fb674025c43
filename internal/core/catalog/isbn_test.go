package catalog_test

import (
	"strings"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

func TestNormalizeISBN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when the input must be refused
	}{
		{"digits only", "9780306406157", "9780306406157"},
		{"hyphenated", "978-0-306-40615-7", "9780306406157"},
		{"spaces", "978 0 306 40615 7", "9780306406157"},
		{"hyphens and spaces mixed", " 978-0 306-40615 7 ", "9780306406157"},
		{"check digit zero", "978-3-16-148410-0", "9783161484100"},
		{"979 prefix", "979-10-90636-07-1", "9791090636071"},
		{"979 prefix check digit zero", "9798861147200", "9798861147200"},
		{"bad check digit", "9780306406158", ""},
		{"bad check digit hyphenated", "978-0-306-40615-1", ""},
		{"transposed digits", "9780306406517", ""},
		{"twelve digits", "978030640615", ""},
		{"fourteen digits", "97803064061570", ""},
		{"empty", "", ""},
		{"only hyphens", "---", ""},
		{"ISBN-10", "0306406152", ""},
		{"ISBN-10 with X", "080442957X", ""},
		{"other prefix with valid checksum", "9770306406158", ""},
		{"letter inside", "978030640615A", ""},
		{"lower-case x", "978030640615x", ""},
		{"ISBN label", "ISBN 9780306406157", ""},
		{"dot separator", "978.0.306.40615.7", ""},
		{"tab separator", "978\t0306406157", ""},
		{"full-width digits", "９７８０３０６４０６１５７", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := catalog.NormalizeISBN(tt.in)
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("NormalizeISBN(%q) = (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.want != "")
			}
		})
	}
}

func TestIsID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"canonical", "0190a000-0000-7000-8000-000000000001", true},
		{"upper case", "0190A000-0000-7000-8000-00000000000F", true},
		{"empty", "", false},
		{"no hyphens", "0190a00000007000800000000000000f", false},
		{"braces", "{0190a000-0000-7000-8000-000000000001}", false},
		{"urn", "urn:uuid:0190a000-0000-7000-8000-000000000001", false},
		{"one short", "0190a000-0000-7000-8000-00000000000", false},
		{"not hex", "0190a000-0000-7000-8000-00000000000g", false},
		{"hyphens misplaced", "0190a0000-000-7000-8000-000000000001", false},
		{"word", "not-a-uuid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coreid.Valid(tt.in); got != tt.want {
				t.Fatalf("coreid.Valid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewIDIsATimeOrderedUUID(t *testing.T) {
	a, b := coreid.New(), coreid.New()
	for _, id := range []string{a, b} {
		if !coreid.Valid(id) {
			t.Fatalf("coreid.New() = %q is not an id", id)
		}
		if id[14] != '7' {
			t.Fatalf("coreid.New() = %q is not a version 7 UUID", id)
		}
	}
	if a == b {
		t.Fatalf("NewID returned %q twice", a)
	}
	if strings.Compare(a, b) > 0 {
		t.Fatalf("NewID went back in order: %q then %q", a, b)
	}
}

func TestEtag(t *testing.T) {
	for _, tt := range []struct {
		version int64
		want    string
	}{{1, "1"}, {42, "42"}, {0, "0"}} {
		if got := catalog.Etag(tt.version); got != tt.want {
			t.Errorf("Etag(%d) = %q, want %q", tt.version, got, tt.want)
		}
	}
}
