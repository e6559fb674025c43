package assistant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// maxArgsBytes bounds the arguments of one call: every tool's arguments
// fit in far less.
const maxArgsBytes = 8 << 10

// param is one argument of a tool: its JSON schema and its name.
type param struct {
	name     string
	required bool
	schema   map[string]any
}

func stringParam(name, description string, minLen, maxLen int) param {
	s := map[string]any{"type": "string", "description": description, "maxLength": maxLen}
	if minLen > 0 {
		s["minLength"] = minLen
	}
	return param{name: name, schema: s}
}

func idParam(name, description string) param {
	return param{name: name, schema: map[string]any{
		"type": "string", "description": description, "format": "uuid", "minLength": 36, "maxLength": 36,
	}}
}

func intParam(name, description string, minimum, maximum int) param {
	return param{name: name, schema: map[string]any{
		"type": "integer", "description": description, "minimum": minimum, "maximum": maximum,
	}}
}

func enumParam(name, description string, values ...string) param {
	return param{name: name, schema: map[string]any{"type": "string", "description": description, "enum": values}}
}

func (p param) must() param {
	p.required = true
	return p
}

// objectSchema is the JSON schema of a tool's arguments: an object of
// params, nothing else.
func objectSchema(params ...param) json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, p := range params {
		props[p.name] = p.schema
		if p.required {
			required = append(required, p.name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	out, err := json.Marshal(s)
	if err != nil {
		panic(err) // maps of strings, ints and string slices always marshal
	}
	return out
}

// decodeArgs reads a tool's arguments into dst, a pointer to a struct
// whose json tags are the tool's parameters. It is strict, and says what
// is wrong in terms the model can act on: the arguments must be one JSON
// object (absent or null means no arguments), name only parameters of the
// tool, give each the JSON type of its field, and name every required one.
// Value bounds are the tool's to check.
func decodeArgs(args json.RawMessage, dst any, params []param) error {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		args = []byte("{}")
	}
	if len(args) > maxArgsBytes {
		return failure.Invalid("arguments", fmt.Sprintf("must be at most %d bytes of JSON", maxArgsBytes))
	}
	var fields map[string]json.RawMessage
	if args[0] != '{' || json.Unmarshal(args, &fields) != nil {
		return failure.Invalid("arguments", "must be one JSON object of the tool's parameters")
	}
	known := make(map[string]param, len(params))
	for _, p := range params {
		known[p.name] = p
	}
	var v failure.Violations
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if _, ok := known[name]; !ok {
			v.Add(name, "is not a parameter of this tool; its parameters are "+paramNames(params))
		}
	}
	for _, p := range params {
		if raw, ok := fields[p.name]; p.required && (!ok || bytes.Equal(raw, []byte("null"))) {
			v.Add(p.name, "is required")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(args, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return failure.Invalid(te.Field, "must be "+jsonKind(te.Type))
		}
		return failure.Invalid("arguments", "must be one JSON object of the tool's parameters")
	}
	return nil
}

func paramNames(params []param) string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// jsonKind names the JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	default:
		return "a " + t.Kind().String()
	}
}

// checkText records a violation unless s is valid UTF-8 of minLen to
// maxLen characters.
func checkText(v *failure.Violations, field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case n < minLen && minLen == 1:
		v.Add(field, "must not be empty")
	case n < minLen:
		v.Add(field, fmt.Sprintf("must be at least %d characters", minLen))
	case n > maxLen:
		v.Add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	}
}

// checkID records a violation unless s is a UUID.
func checkID(v *failure.Violations, field, s string) {
	if !coreid.Valid(s) {
		v.Add(field, "must be a book id: a UUID such as 0190a0d8-7b55-7cc5-9a4e-6a7d1c0f4e21, as search_catalog returns")
	}
}

// checkRange returns the value of an optional whole-number argument:
// def when absent, otherwise n after recording a violation when it is
// outside [minimum, maximum].
func checkRange(v *failure.Violations, field string, n *int, def, minimum, maximum int) int {
	if n == nil {
		return def
	}
	if *n < minimum || *n > maximum {
		v.Add(field, fmt.Sprintf("must be between %d and %d", minimum, maximum))
	}
	return *n
}
