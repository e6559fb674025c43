package rpc

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// nulViolation is the description of a string holding U+0000.
const nulViolation = "must not contain the NUL character (U+0000)"

// checkText records a violation for every string of m, at any depth (nested
// messages, repeated fields, map keys and values), that holds U+0000:
// Postgres cannot store it in text, so without this check such a request
// would reach the database and fail there as an Internal error. Walking the
// message by reflection covers every field of every request of every
// service, present and future, without a rule per field. Paths are written
// as protovalidate writes them (book.author_ids[2], labels["k"]).
//
// Invalid UTF-8 needs no check here: the protobuf runtime refuses it in
// proto3 strings while decoding, before any interceptor runs.
func checkText(m protoreflect.Message, prefix string, vs *failure.Violations) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				key := path + "[" + mapKeyString(fd.MapKey(), k) + "]"
				if fd.MapKey().Kind() == protoreflect.StringKind && hasNUL(k.String()) {
					vs.Add(key, "key "+nulViolation)
				}
				checkValue(fd.MapValue(), mv, key, vs)
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				checkValue(fd, l.Get(i), path+"["+strconv.Itoa(i)+"]", vs)
			}
		default:
			checkValue(fd, v, path, vs)
		}
		return true
	})
}

// checkValue checks one singular value of field fd (an element of a list,
// a map value, or the field's value).
func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, vs *failure.Violations) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if hasNUL(v.String()) {
			vs.Add(path, nulViolation)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		checkText(v.Message(), path, vs)
	}
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// mapKeyString writes a map key as protovalidate's field paths do.
func mapKeyString(fd protoreflect.FieldDescriptor, k protoreflect.MapKey) string {
	if fd.Kind() == protoreflect.StringKind {
		return strconv.Quote(k.String())
	}
	return k.String()
}
