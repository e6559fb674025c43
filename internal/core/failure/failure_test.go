package failure_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

var sentinels = []error{
	failure.ErrInvalid, failure.ErrNotFound, failure.ErrAlreadyExists, failure.ErrConflict,
	failure.ErrFailedPrecondition, failure.ErrUnauthenticated, failure.ErrPermissionDenied,
	failure.ErrResourceExhausted, failure.ErrUnavailable,
}

func TestHelpersMatchTheirSentinelOnly(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    error
		message string
	}{
		{"not found", failure.NotFound("book %s not found", "b1"), failure.ErrNotFound, "book b1 not found"},
		{"already exists", failure.AlreadyExists("isbn %q is taken", "978"), failure.ErrAlreadyExists, `isbn "978" is taken`},
		{"conflict", failure.Conflict("book %s changed", "b1"), failure.ErrConflict, "book b1 changed"},
		{"failed precondition", failure.FailedPrecondition("category %s is in use", "c1"), failure.ErrFailedPrecondition, "category c1 is in use"},
		{"invalid", failure.Invalid("book.title", "must not be empty"), failure.ErrInvalid, "invalid argument: book.title: must not be empty"},
		{"message without arguments", failure.NotFound("no such thing"), failure.ErrNotFound, "no such thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The message goes to the client as it is: no sentinel prefix, no
			// Go-internal detail.
			if got := tt.err.Error(); got != tt.message {
				t.Errorf("Error() = %q, want %q", got, tt.message)
			}
			for _, s := range sentinels {
				if got, want := errors.Is(tt.err, s), s == tt.want; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			wrapped := fmt.Errorf("storing: %w", tt.err)
			if !errors.Is(wrapped, tt.want) {
				t.Errorf("errors.Is through a wrapper lost %v", tt.want)
			}
		})
	}
}

func TestErrorAs(t *testing.T) {
	var fe *failure.Error
	if !errors.As(fmt.Errorf("x: %w", failure.Conflict("c")), &fe) || fe.Error() != "c" {
		t.Fatalf("errors.As(*failure.Error) = %v", fe)
	}
	var ve *failure.ValidationError
	if errors.As(failure.NotFound("n"), &ve) {
		t.Fatal("a NotFound error is a *ValidationError")
	}
	if !errors.As(fmt.Errorf("x: %w", failure.Invalid("f", "d")), &ve) {
		t.Fatal("errors.As(*ValidationError) failed through a wrapper")
	}
	if want := []failure.Violation{{Field: "f", Description: "d"}}; !slices.Equal(ve.Violations, want) {
		t.Fatalf("Violations = %v, want %v", ve.Violations, want)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	tests := []struct {
		name       string
		violations []failure.Violation
		want       string
	}{
		{"one", []failure.Violation{{"page_size", "must be between 0 and 100"}}, "invalid argument: page_size: must be between 0 and 100"},
		{"several in order", []failure.Violation{{"book.title", "must not be empty"}, {"book.price", "is required"}},
			"invalid argument: book.title: must not be empty; book.price: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &failure.ValidationError{Violations: tt.violations}
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, failure.ErrInvalid) {
				t.Error("ValidationError does not match ErrInvalid")
			}
		})
	}
}

// violationsOf returns the violations of err, failing the test when err is
// not a ValidationError.
func violationsOf(t *testing.T, err error) []failure.Violation {
	t.Helper()
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *failure.ValidationError", err, err)
	}
	if !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	return ve.Violations
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		fill func(v *failure.Violations)
		want []failure.Violation // nil: Err must be nil
	}{
		{"none", func(*failure.Violations) {}, nil},
		{"added in order", func(v *failure.Violations) {
			v.Add("a", "first")
			v.Add("b", "second")
			v.Add("a", "third")
		}, []failure.Violation{{"a", "first"}, {"b", "second"}, {"a", "third"}}},
		{"merge prefixes every field", func(v *failure.Violations) {
			v.Add("id", "must be a UUID")
			v.Merge("book", &failure.ValidationError{Violations: []failure.Violation{{"title", "t"}, {"author_ids[1]", "a"}}})
		}, []failure.Violation{{"id", "must be a UUID"}, {"book.title", "t"}, {"book.author_ids[1]", "a"}}},
		{"merge with empty prefix keeps fields", func(v *failure.Violations) {
			v.Merge("", failure.Invalid("title", "t"))
		}, []failure.Violation{{"title", "t"}}},
		{"merge finds a wrapped validation error", func(v *failure.Violations) {
			v.Merge("p", fmt.Errorf("ctx: %w", failure.Invalid("f", "d")))
		}, []failure.Violation{{"p.f", "d"}}},
		{"merge ignores other errors", func(v *failure.Violations) {
			v.Merge("p", failure.NotFound("gone"))
			v.Merge("p", nil)
			v.Merge("p", failure.ErrInvalid) // the bare sentinel names no field
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v failure.Violations
			tt.fill(&v)
			err := v.Err()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Err() = %v, want nil", err)
				}
				return
			}
			if got := violationsOf(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("violations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergeReportsWhetherItMerged(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"validation error", failure.Invalid("f", "d"), true},
		{"wrapped validation error", fmt.Errorf("w: %w", failure.Invalid("f", "d")), true},
		{"validation error without violations", &failure.ValidationError{}, true},
		{"not found", failure.NotFound("x"), false},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v failure.Violations
			if got := v.Merge("p", tt.err); got != tt.want {
				t.Fatalf("Merge = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	plain := errors.New("database is down")
	notFound := failure.NotFound("book b1 not found")
	tests := []struct {
		name   string
		prefix string
		err    error
		want   []failure.Violation // nil: err must come back unchanged
	}{
		{"every field prefixed", "category", &failure.ValidationError{Violations: []failure.Violation{{"name", "n"}, {"description", "d"}}},
			[]failure.Violation{{"category.name", "n"}, {"category.description", "d"}}},
		{"nested prefix", "book", failure.Invalid("sale_price.currency_code", "c"), []failure.Violation{{"book.sale_price.currency_code", "c"}}},
		{"wrapped validation error", "book", fmt.Errorf("w: %w", failure.Invalid("title", "t")), []failure.Violation{{"book.title", "t"}}},
		{"plain error unchanged", "book", plain, nil},
		{"not found unchanged", "book", notFound, nil},
		{"nil unchanged", "book", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failure.Prefix(tt.prefix, tt.err)
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("Prefix = %v, want the error unchanged (%v)", got, tt.err)
				}
				return
			}
			if vs := violationsOf(t, got); !slices.Equal(vs, tt.want) {
				t.Fatalf("violations = %v, want %v", vs, tt.want)
			}
		})
	}
}

func TestPrefixLeavesTheOriginalAlone(t *testing.T) {
	orig := &failure.ValidationError{Violations: []failure.Violation{{"title", "t"}}}
	_ = failure.Prefix("book", orig)
	if orig.Violations[0].Field != "title" {
		t.Fatalf("Prefix changed its argument: %v", orig.Violations)
	}
}

func TestFailedPreconditionWith(t *testing.T) {
	err := fmt.Errorf("adding: %w", failure.FailedPreconditionWith("BOOK_OUT_OF_STOCK", map[string]string{"book_id": "b1"}, "book %s is out of stock", "b1"))
	if !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("%v is not ErrFailedPrecondition", err)
	}
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Error() != "book b1 is out of stock" {
		t.Fatalf("message of %v", err)
	}
	if reason, meta := fe.Reason(); reason != "BOOK_OUT_OF_STOCK" || meta["book_id"] != "b1" {
		t.Fatalf("reason %q %v", reason, meta)
	}
	if reason, _ := failure.FailedPrecondition("in use").(*failure.Error).Reason(); reason != "" {
		t.Fatalf("a plain failure has the reason %q", reason)
	}
}
