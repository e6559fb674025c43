package rpc

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	// Every context's contract, served yet or not, so that its requests
	// are checked from the day they are written.
	_ "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	_ "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// contractServices returns every service of the BookWorm contract linked
// into this binary: the generated packages the routes import register
// themselves, so a service added to the routes is found without editing
// this test.
func contractServices(t *testing.T) []protoreflect.ServiceDescriptor {
	t.Helper()
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(f.Package()), "bookworm.") {
			for i := range f.Services().Len() {
				out = append(out, f.Services().Get(i))
			}
		}
		return true
	})
	for _, name := range []string{catalogv1connect.CatalogServiceName, ratingv1connect.RatingServiceName} {
		if !slices.ContainsFunc(out, func(s protoreflect.ServiceDescriptor) bool { return string(s.FullName()) == name }) {
			t.Fatalf("served service %s is not in the registry", name)
		}
	}
	return out
}

// fieldRules returns the protovalidate rules of a field (empty when none).
func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if r == nil {
		return &validate.FieldRules{}
	}
	return r
}

// stringBounded reports whether string rules bound the length of a value.
func stringBounded(r *validate.StringRules) bool {
	return r.HasMaxLen() || r.HasMaxBytes() || r.HasLen() || r.HasLenBytes() || r.HasConst() ||
		len(r.GetIn()) > 0 || r.GetUuid() || r.GetTuuid()
}

func bytesBounded(r *validate.BytesRules) bool {
	return r.HasMaxLen() || r.HasLen() || r.HasConst() || len(r.GetIn()) > 0
}

// unboundedFields walks a request message type and lists every string,
// bytes, repeated or map field (at any depth) whose maximum the contract
// does not state. Well-known types cannot carry rules on their own fields:
// a FieldMask must be bounded by the field that holds it, which is checked
// by validating an oversized mask (parent is the message holding it).
func unboundedFields(t *testing.T, v protovalidate.Validator, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) []string {
	if seen[md.FullName()] {
		return nil
	}
	seen[md.FullName()] = true
	var missing []string
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		rules := fieldRules(fd)
		where := string(fd.FullName())
		switch {
		case fd.IsMap():
			if !rules.GetMap().HasMaxPairs() {
				missing = append(missing, where+": map without (buf.validate.field).map.max_pairs")
			}
			if vfd := fd.MapValue(); vfd.Kind() == protoreflect.MessageKind {
				missing = append(missing, unboundedFields(t, v, vfd.Message(), seen)...)
			}
			continue
		case fd.IsList():
			if !rules.GetRepeated().HasMaxItems() {
				missing = append(missing, where+": repeated field without (buf.validate.field).repeated.max_items")
			}
			items := rules.GetRepeated().GetItems()
			switch fd.Kind() {
			case protoreflect.StringKind:
				if !stringBounded(items.GetString()) {
					missing = append(missing, where+": items without a maximum length (repeated.items.string.max_len)")
				}
			case protoreflect.BytesKind:
				if !bytesBounded(items.GetBytes()) {
					missing = append(missing, where+": items without a maximum length (repeated.items.bytes.max_len)")
				}
			case protoreflect.MessageKind:
				missing = append(missing, unboundedFields(t, v, fd.Message(), seen)...)
			}
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !stringBounded(rules.GetString()) {
				missing = append(missing, where+": string without (buf.validate.field).string.max_len")
			}
		case protoreflect.BytesKind:
			if !bytesBounded(rules.GetBytes()) {
				missing = append(missing, where+": bytes without (buf.validate.field).bytes.max_len")
			}
		case protoreflect.MessageKind, protoreflect.GroupKind:
			switch fd.Message().FullName() {
			case "google.protobuf.FieldMask":
				if why := fieldMaskUnbounded(v, md, fd); why != "" {
					missing = append(missing, where+": "+why)
				}
			case "google.protobuf.Timestamp", "google.protobuf.Duration":
				// Numbers only.
			default:
				if strings.HasPrefix(string(fd.Message().FullName()), "google.") {
					missing = append(missing, where+": "+string(fd.Message().FullName())+
						" is not known to this test: teach it how that type is bounded")
					continue
				}
				missing = append(missing, unboundedFields(t, v, fd.Message(), seen)...)
			}
		}
	}
	return missing
}

// fieldMaskUnbounded validates a parent holding a mask of too many paths,
// then one of a too long path, and says what got through.
func fieldMaskUnbounded(v protovalidate.Validator, parent protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) string {
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("f%d", i)
	}
	for _, tc := range []struct {
		what  string
		paths []string
	}{
		{"1000 paths", many},
		{"a path of 10000 characters", []string{strings.Repeat("p", 10000)}},
	} {
		m := dynamicpb.NewMessage(parent)
		m.Set(fd, protoreflect.ValueOfMessage((&fieldmaskpb.FieldMask{Paths: tc.paths}).ProtoReflect()))
		if !violates(v, m, string(fd.Name())) {
			return "a FieldMask of " + tc.what + " is valid: bound it with a (buf.validate.field).cel rule"
		}
	}
	return ""
}

// violates reports whether validating m yields a violation of field path.
func violates(v protovalidate.Validator, m protoreflect.Message, path string) bool {
	err := v.Validate(m.Interface())
	ve, ok := err.(*protovalidate.ValidationError)
	if !ok {
		return false
	}
	for _, x := range ve.Violations {
		if protovalidate.FieldPathString(x.Proto.GetField()) == path {
			return true
		}
	}
	return false
}

// TestEveryRequestFieldHasAMaximum fails when a string, bytes, repeated or
// map field of a request of any service of the contract (at any depth) has
// no maximum in the contract: an unbounded field lets one request make the
// server store or process megabytes.
func TestEveryRequestFieldHasAMaximum(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[protoreflect.FullName]bool{}
	var missing []string
	methods := 0
	for _, s := range contractServices(t) {
		for i := range s.Methods().Len() {
			methods++
			missing = append(missing, unboundedFields(t, v, s.Methods().Get(i).Input(), seen)...)
		}
	}
	if methods < 26 {
		t.Fatalf("only %d methods found; the catalog and rating services alone have 26", methods)
	}
	if len(missing) > 0 {
		t.Fatalf("request fields without a maximum in the contract:\n%s", strings.Join(missing, "\n"))
	}
}

// TestUnboundedFieldsAreFound checks the check: it must notice what it is
// meant to notice.
func TestUnboundedFieldsAreFound(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	// A response message carries no rules: its text and list fields are
	// unbounded (its Money is not: the rules are those of Money's fields).
	md := (&catalogv1.Book{}).ProtoReflect().Descriptor()
	missing := unboundedFields(t, v, md, map[protoreflect.FullName]bool{})
	for _, want := range []string{"bookworm.catalog.v1.Book.title: string", "bookworm.catalog.v1.Book.author_ids: repeated",
		"bookworm.catalog.v1.Book.author_ids: items"} {
		if !slices.ContainsFunc(missing, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("%q not reported; reported:\n%s", want, strings.Join(missing, "\n"))
		}
	}
	if slices.ContainsFunc(missing, func(s string) bool { return strings.Contains(s, "Money") }) {
		t.Errorf("Money reported although its fields are bounded:\n%s", strings.Join(missing, "\n"))
	}
}
