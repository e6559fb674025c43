package catalog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

const testEntityID = "0190a000-0000-7000-8000-0000000000e1"

func TestKinds(t *testing.T) {
	tests := []struct {
		kind       catalog.Kind
		name       string
		nameMax    int
		textField  string
		textMax    int
		uniqueName bool
	}{
		{catalog.AuthorKind, "author", 200, "biography", 5000, false},
		{catalog.CategoryKind, "category", 100, "description", 2000, true},
		{catalog.PublisherKind, "publisher", 200, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.kind
			if k.Name != tt.name || k.NameMax != tt.nameMax || k.TextField != tt.textField || k.TextMax != tt.textMax || k.UniqueName != tt.uniqueName {
				t.Fatalf("kind = %+v", k)
			}
		})
	}
}

func TestNewEntityRules(t *testing.T) {
	type change struct {
		name   string
		fields func(k catalog.Kind) catalog.EntityFields
		// want lists the violated fields below the kind's name ("name"
		// for "author.name"); nil when the fields are valid.
		want func(k catalog.Kind) []string
	}
	valid := func(catalog.Kind) []string { return nil }
	onName := func(catalog.Kind) []string { return []string{catalog.FieldName} }
	onText := func(k catalog.Kind) []string {
		if k.TextField == "" {
			return nil // kinds without text ignore it
		}
		return []string{k.TextField}
	}
	changes := []change{
		{"plain", func(catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: "Ursula K. Le Guin", Text: "Wrote books."}
		}, valid},
		{"no text", func(catalog.Kind) catalog.EntityFields { return catalog.EntityFields{Name: "Fantasy"} }, valid},
		{"name empty", func(catalog.Kind) catalog.EntityFields { return catalog.EntityFields{} }, onName},
		{"name whitespace", func(catalog.Kind) catalog.EntityFields { return catalog.EntityFields{Name: " \t\n"} }, onName},
		{"name at the limit in multibyte runes", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: strings.Repeat("ß", k.NameMax)}
		}, valid},
		{"name at the limit inside spaces", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: " " + strings.Repeat("n", k.NameMax) + " "}
		}, valid},
		{"name one past the limit", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: strings.Repeat("ß", k.NameMax+1)}
		}, onName},
		{"name invalid UTF-8", func(catalog.Kind) catalog.EntityFields { return catalog.EntityFields{Name: "a\xffb"} }, onName},
		{"text at the limit", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: "N", Text: strings.Repeat("€", k.TextMax)}
		}, valid},
		{"text one past the limit", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: "N", Text: strings.Repeat("€", k.TextMax+1)}
		}, onText},
		{"text invalid UTF-8", func(catalog.Kind) catalog.EntityFields { return catalog.EntityFields{Name: "N", Text: "\xc3("} }, onText},
		{"name and text both wrong", func(k catalog.Kind) catalog.EntityFields {
			return catalog.EntityFields{Name: "", Text: strings.Repeat("x", k.TextMax+1)}
		}, func(k catalog.Kind) []string {
			if k.TextField == "" {
				return []string{catalog.FieldName}
			}
			return []string{catalog.FieldName, k.TextField}
		}},
	}
	for _, k := range []catalog.Kind{catalog.AuthorKind, catalog.CategoryKind, catalog.PublisherKind} {
		for _, c := range changes {
			t.Run(k.Name+"/"+c.name, func(t *testing.T) {
				f := c.fields(k)
				e, err := catalog.NewEntity(k, testEntityID, f, testT0)
				want := c.want(k)
				if want != nil {
					prefixed := make([]string, len(want))
					for i, w := range want {
						prefixed[i] = k.Name + "." + w
					}
					wantViolations(t, err, prefixed...)
					if e != nil {
						t.Fatal("NewEntity returned an entity with its error")
					}
					return
				}
				if err != nil {
					t.Fatalf("NewEntity: %v", err)
				}
				r := e.Record()
				if r.ID != testEntityID || r.Name != strings.TrimSpace(f.Name) || r.Version != 1 || e.Etag() != "1" {
					t.Errorf("record = %+v", r)
				}
				wantText := f.Text
				if k.TextField == "" {
					wantText = ""
				}
				if r.Text != wantText {
					t.Errorf("text = %q, want %q", r.Text, wantText)
				}
				if !r.CreateTime.Equal(testT0) || r.CreateTime.Location() != time.UTC || r.UpdateTime != r.CreateTime {
					t.Errorf("times = %v / %v, want %v in UTC", r.CreateTime, r.UpdateTime, testT0)
				}
				if e.Kind() != k {
					t.Errorf("Kind() = %+v, want %+v", e.Kind(), k)
				}
			})
		}
	}
}

// newTestEntity returns a valid entity of kind k made at testT0.
func newTestEntity(t *testing.T, k catalog.Kind) *catalog.Entity {
	t.Helper()
	text := "Some text."
	if k.TextField == "" {
		text = ""
	}
	e, err := catalog.NewEntity(k, testEntityID, catalog.EntityFields{Name: "Original", Text: text}, testT0)
	if err != nil {
		t.Fatalf("NewEntity: %v", err)
	}
	return e
}

func TestEntityApply(t *testing.T) {
	tests := []struct {
		name     string
		kind     catalog.Kind
		fields   catalog.EntityFields
		paths    []string
		wantName string
		wantText string
	}{
		{"author name", catalog.AuthorKind, catalog.EntityFields{Name: " Renamed ", Text: "ignored"}, []string{"name"}, "Renamed", "Some text."},
		{"author biography", catalog.AuthorKind, catalog.EntityFields{Name: "ignored", Text: "New bio."}, []string{"biography"}, "Original", "New bio."},
		{"author both", catalog.AuthorKind, catalog.EntityFields{Name: "N", Text: ""}, []string{"biography", "name"}, "N", ""},
		{"category description", catalog.CategoryKind, catalog.EntityFields{Text: "Dragons."}, []string{"description"}, "Original", "Dragons."},
		{"category name", catalog.CategoryKind, catalog.EntityFields{Name: "Sci-Fi"}, []string{"name"}, "Sci-Fi", "Some text."},
		{"publisher name", catalog.PublisherKind, catalog.EntityFields{Name: "Tor", Text: "dropped"}, []string{"name"}, "Tor", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEntity(t, tt.kind)
			if err := e.Apply(tt.fields, tt.paths, testT1); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			r := e.Record()
			if r.Name != tt.wantName || r.Text != tt.wantText {
				t.Errorf("name, text = %q, %q, want %q, %q", r.Name, r.Text, tt.wantName, tt.wantText)
			}
			if r.Version != 2 || e.Etag() != "2" {
				t.Errorf("version = %d, etag %q, want 2", r.Version, e.Etag())
			}
			if !r.UpdateTime.Equal(testT1) || r.UpdateTime.Location() != time.UTC || !r.CreateTime.Equal(testT0) {
				t.Errorf("times = %v / %v", r.CreateTime, r.UpdateTime)
			}
		})
	}
}

func TestEntityApplyRefused(t *testing.T) {
	tests := []struct {
		name   string
		kind   catalog.Kind
		fields catalog.EntityFields
		paths  []string
		want   []string
	}{
		{"empty mask", catalog.AuthorKind, catalog.EntityFields{Name: "x"}, nil, []string{"update_mask"}},
		{"publisher has no description", catalog.PublisherKind, catalog.EntityFields{Text: "x"}, []string{"description"}, []string{"update_mask"}},
		{"publisher has no empty-named text", catalog.PublisherKind, catalog.EntityFields{Text: "x"}, []string{""}, []string{"update_mask"}},
		{"author has no description", catalog.AuthorKind, catalog.EntityFields{Text: "x"}, []string{"description"}, []string{"update_mask"}},
		{"category has no biography", catalog.CategoryKind, catalog.EntityFields{Text: "x"}, []string{"biography"}, []string{"update_mask"}},
		{"unknown beside known", catalog.CategoryKind, catalog.EntityFields{Name: "Valid"}, []string{"name", "id"}, []string{"update_mask"}},
		{"author name emptied", catalog.AuthorKind, catalog.EntityFields{}, []string{"name"}, []string{"author.name"}},
		{"category name too long", catalog.CategoryKind, catalog.EntityFields{Name: strings.Repeat("c", 101)}, []string{"name"}, []string{"category.name"}},
		{"category description too long", catalog.CategoryKind, catalog.EntityFields{Text: strings.Repeat("c", 2001)}, []string{"description"}, []string{"category.description"}},
		{"author biography too long", catalog.AuthorKind, catalog.EntityFields{Text: strings.Repeat("b", 5001)}, []string{"biography"}, []string{"author.biography"}},
		{"publisher name too long", catalog.PublisherKind, catalog.EntityFields{Name: strings.Repeat("p", 201)}, []string{"name"}, []string{"publisher.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEntity(t, tt.kind)
			before := e.Record()
			wantViolations(t, e.Apply(tt.fields, tt.paths, testT1), tt.want...)
			if after := e.Record(); after != before {
				t.Fatalf("a refused Apply changed the entity: %+v -> %+v", before, after)
			}
		})
	}
}

func TestRestoreEntity(t *testing.T) {
	r := catalog.EntityRecord{ID: testEntityID, EntityFields: catalog.EntityFields{Name: "Tor"}, Version: 7}
	e := catalog.RestoreEntity(catalog.PublisherKind, r)
	if e.Record() != r || e.Kind() != catalog.PublisherKind || e.Etag() != "7" {
		t.Fatalf("restored %+v (%s, etag %s), want %+v", e.Record(), e.Kind().Name, e.Etag(), r)
	}
	if err := e.Apply(catalog.EntityFields{Text: "x"}, []string{"description"}, testT1); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("restored publisher accepted a description: %v", err)
	}
}
