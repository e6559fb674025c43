package id

import "testing"

func TestNewIsValidVersion7AndOrdered(t *testing.T) {
	a, b := New(), New()
	if !Valid(a) || !Valid(b) {
		t.Fatalf("New returned invalid ids %q %q", a, b)
	}
	if a[14] != '7' {
		t.Fatalf("%q is not version 7", a)
	}
	if a >= b {
		t.Fatalf("ids not time-ordered: %q then %q", a, b)
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"018cc283-6440-71df-91dd-58cda2ed13a9":   true,
		"018CC283-6440-71DF-91DD-58CDA2ED13A9":   true,
		"018cc283644071df91dd58cda2ed13a9":       false,
		"{018cc283-6440-71df-91dd-58cda2ed13a9}": false,
		"not-a-uuid":                             false,
		"":                                       false,
	} {
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"0191A000-0000-7000-8000-00000000ABCD": "0191a000-0000-7000-8000-00000000abcd",
		"0191a000-0000-7000-8000-00000000abcd": "0191a000-0000-7000-8000-00000000abcd",
	} {
		if got := Canonical(in); got != want || !Valid(got) {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Canonical("0191a000-0000-7000-8000-00000000abcd") }); n != 0 {
		t.Errorf("Canonical of a canonical id allocates %v times", n)
	}
}
