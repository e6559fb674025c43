package catalog

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Kind is one of the three things books refer to: authors, categories and
// publishers. They share one shape (a name, an optional text) and one set of
// rules, parameterised here.
type Kind struct {
	// Name is the kind's name in messages, "author".
	Name string
	// NameMax is the longest name allowed, in characters.
	NameMax int
	// TextField is the name of the free-text field ("biography"), or "" when
	// the kind has none.
	TextField string
	// TextMax is the longest text allowed, in characters.
	TextMax int
	// UniqueName says whether two entities of the kind may share a name.
	UniqueName bool
}

// The kinds.
var (
	AuthorKind    = Kind{Name: "author", NameMax: 200, TextField: "biography", TextMax: 5000}
	CategoryKind  = Kind{Name: "category", NameMax: 100, TextField: "description", TextMax: 2000, UniqueName: true}
	PublisherKind = Kind{Name: "publisher", NameMax: 200, UniqueName: true}
)

// EntityFields are the fields of an author, category or publisher a client
// writes. Text is the biography or description.
type EntityFields struct {
	Name string
	Text string
}

// Update-mask names of EntityFields; the text goes by its kind's TextField.
const FieldName = "name"

func (f EntityFields) normalize(k Kind) (EntityFields, error) {
	var v failure.Violations
	f.Name = strings.TrimSpace(f.Name)
	switch n := utf8.RuneCountInString(f.Name); {
	case !utf8.ValidString(f.Name):
		v.Add(FieldName, "must be valid UTF-8")
	case n == 0:
		v.Add(FieldName, "must not be empty")
	case n > k.NameMax:
		v.Add(FieldName, "must be at most "+itoa(k.NameMax)+" characters")
	}
	if k.TextField == "" {
		f.Text = ""
	} else if utf8.RuneCountInString(f.Text) > k.TextMax || !utf8.ValidString(f.Text) {
		v.Add(k.TextField, "must be valid UTF-8 of at most "+itoa(k.TextMax)+" characters")
	}
	return f, v.Err()
}

// EntityRecord is the stored state of an author, category or publisher.
type EntityRecord struct {
	ID string
	EntityFields
	CreateTime time.Time
	UpdateTime time.Time
	Version    int64
}

// Entity is an author, a category or a publisher.
type Entity struct {
	kind Kind
	rec  EntityRecord
}

// NewEntity validates fields and returns a new entity of kind k.
func NewEntity(k Kind, id string, fields EntityFields, now time.Time) (*Entity, error) {
	f, err := fields.normalize(k)
	if err != nil {
		return nil, failure.Prefix(k.Name, err)
	}
	now = now.UTC()
	return &Entity{kind: k, rec: EntityRecord{ID: id, EntityFields: f, CreateTime: now, UpdateTime: now, Version: 1}}, nil
}

// RestoreEntity rebuilds an entity from storage.
func RestoreEntity(k Kind, r EntityRecord) *Entity { return &Entity{kind: k, rec: r} }

// Kind returns the entity's kind.
func (e *Entity) Kind() Kind { return e.kind }

// Record returns a copy of the entity's state.
func (e *Entity) Record() EntityRecord { return e.rec }

// Etag returns the version tag.
func (e *Entity) Etag() string { return Etag(e.rec.Version) }

// Apply sets the fields named in paths, checks the result and bumps the
// version.
func (e *Entity) Apply(fields EntityFields, paths []string, now time.Time) error {
	if len(paths) == 0 {
		return failure.Invalid("update_mask", "must name at least one field")
	}
	next := e.rec.EntityFields
	var v failure.Violations
	for _, p := range paths {
		switch {
		case p == FieldName:
			next.Name = fields.Name
		case p == e.kind.TextField && p != "":
			next.Text = fields.Text
		default:
			v.Add("update_mask", "unknown field "+strconvQuote(p))
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	f, err := next.normalize(e.kind)
	if err != nil {
		return failure.Prefix(e.kind.Name, err)
	}
	e.rec.EntityFields = f
	e.rec.UpdateTime = now.UTC()
	e.rec.Version++
	return nil
}
