package e2e

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// generator builds request messages from a method's input descriptor
// alone: most fields plausible (ids the harness created, currencies,
// sizes in range) so that requests get past validation into the handlers
// and the database, the rest hostile (extreme numbers, huge, empty and
// control-character strings, unknown enum values, too many items).
type generator struct {
	r *rand.Rand
	// ids are the ids of what the harness itself created, by kind ("book",
	// "author", ...): only these are offered to requests, so that the
	// fuzzer never changes or deletes another test's data.
	ids map[string][]string
	// tokens and etags seen in responses, offered back in requests (to any
	// method: tokens of another list, etags of another object).
	tokens, etags []string
}

func newGenerator(seed uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ids: map[string][]string{}}
}

// forget removes a deleted id from the pools.
func (g *generator) forget(id string) {
	for k, ids := range g.ids {
		g.ids[k] = slices.DeleteFunc(ids, func(x string) bool { return x == id })
	}
}

// chance is true with probability p.
func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *generator, xs []T) T { return xs[g.r.IntN(len(xs))] }

// message returns a new message of md with fields set; hostility is the
// probability of a hostile value for each field.
func (g *generator) message(md protoreflect.MessageDescriptor, hostility float64, depth int) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	if depth > 6 {
		return m
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := 0.85
		if hostility == 0 {
			p = 1 // plausible requests are complete ones
		}
		if strings.HasPrefix(string(fd.Name()), "sale_") || strings.HasPrefix(string(fd.Name()), "min_") ||
			strings.HasPrefix(string(fd.Name()), "max_") {
			p = 0.3 // optional bounds: set them all and most requests are refused
		}
		if !g.chance(p) {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range g.count(fd, hostility) {
				k := g.scalar(fd.MapKey(), hostility)
				mp.Set(k.MapKey(), g.value(fd.MapValue(), md, hostility, depth))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			seen := map[string]bool{}
			for range g.count(fd, hostility) {
				v := g.value(fd, md, hostility, depth)
				if fd.Kind() == protoreflect.StringKind && hostility == 0 {
					if seen[v.String()] {
						continue // plausible lists of ids do not repeat one
					}
					seen[v.String()] = true
				}
				l.Append(v)
			}
		default:
			m.Set(fd, g.value(fd, md, hostility, depth))
		}
	}
	return m
}

// count is the number of items of a list: a few, or (hostile) far too many.
func (g *generator) count(fd protoreflect.FieldDescriptor, hostility float64) int {
	if g.chance(hostility / 3) {
		return pick(g, []int{11, 51, 101, 1000})
	}
	if strings.HasSuffix(string(fd.Name()), "ids") {
		return 1 + g.r.IntN(3)
	}
	return g.r.IntN(4)
}

// value is one value of field fd (an item, for lists) of parent.
func (g *generator) value(fd protoreflect.FieldDescriptor, parent protoreflect.MessageDescriptor, hostility float64, depth int) protoreflect.Value {
	if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
		return g.scalar(fd, hostility)
	}
	if fd.Message().FullName() == "google.protobuf.FieldMask" {
		return protoreflect.ValueOfMessage(g.fieldMask(fd.Message(), parent, hostility))
	}
	return protoreflect.ValueOfMessage(g.message(fd.Message(), hostility, depth+1))
}

// fieldMask names fields of the messages the mask is about (the other
// message fields of parent), or (hostile) paths that name nothing.
func (g *generator) fieldMask(md, parent protoreflect.MessageDescriptor, hostility float64) protoreflect.Message {
	var names []string
	fields := parent.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.Message() != nil && f.Message() != md {
			inner := f.Message().Fields()
			for j := range inner.Len() {
				names = append(names, string(inner.Get(j).Name()))
			}
		}
	}
	if hostility > 0 {
		names = append(names, "id", "create_time", "price.units", "")
	}
	m := dynamicpb.NewMessage(md)
	paths := m.Mutable(md.Fields().ByName("paths")).List()
	n := 1 + g.r.IntN(3)
	if g.chance(hostility / 3) {
		n = pick(g, []int{0, 11, 100})
	}
	for range n {
		p := pick(g, names)
		if g.chance(hostility / 2) {
			p = g.hostileString()
		}
		paths.Append(protoreflect.ValueOfString(p))
	}
	return m
}

// scalar is a value of a non-message field, chosen by its kind and name.
func (g *generator) scalar(fd protoreflect.FieldDescriptor, hostility float64) protoreflect.Value {
	hostile := g.chance(hostility)
	name := string(fd.Name())
	switch fd.Kind() {
	case protoreflect.StringKind:
		if hostile {
			return protoreflect.ValueOfString(g.hostileString())
		}
		return protoreflect.ValueOfString(g.plausibleString(name))
	case protoreflect.BytesKind:
		if hostile {
			return protoreflect.ValueOfBytes([]byte(g.hostileString()))
		}
		return protoreflect.ValueOfBytes([]byte(g.word()))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(g.chance(0.5))
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		if hostile {
			return protoreflect.ValueOfEnum(pick(g, []protoreflect.EnumNumber{-1, 99, math.MaxInt32, math.MinInt32}))
		}
		return protoreflect.ValueOfEnum(values.Get(g.r.IntN(values.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if hostile {
			return protoreflect.ValueOfInt32(pick(g, []int32{0, -1, 101, math.MaxInt32, math.MinInt32, math.MaxInt16 + 1}))
		}
		return protoreflect.ValueOfInt32(int32(g.plausibleInt(name)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if hostile {
			return protoreflect.ValueOfInt64(pick(g, []int64{0, -1, math.MaxInt64, math.MinInt64, 1 << 53, -(1 << 53) - 1, math.MaxInt64 / 100}))
		}
		return protoreflect.ValueOfInt64(g.plausibleInt(name))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if hostile {
			return protoreflect.ValueOfUint32(pick(g, []uint32{0, math.MaxUint32}))
		}
		return protoreflect.ValueOfUint32(uint32(g.plausibleInt(name)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if hostile {
			return protoreflect.ValueOfUint64(pick(g, []uint64{0, math.MaxUint64}))
		}
		return protoreflect.ValueOfUint64(uint64(g.plausibleInt(name)))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(g.float(hostile)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(g.float(hostile))
	}
	panic(fmt.Sprintf("fuzz: no generator for %s (%s)", fd.FullName(), fd.Kind()))
}

func (g *generator) float(hostile bool) float64 {
	if hostile {
		return pick(g, []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64})
	}
	return g.r.Float64() * 100
}

// plausibleInt fits a field by its name (sizes, stars, money, stock).
func (g *generator) plausibleInt(name string) int64 {
	switch {
	case name == "page_size":
		return int64(g.r.IntN(101))
	case name == "stars":
		return 1 + int64(g.r.IntN(5))
	case name == "nanos":
		return int64(g.r.IntN(100)) * 10_000_000
	case name == "units":
		return 1 + int64(g.r.IntN(100))
	default:
		return int64(g.r.IntN(1000))
	}
}

// kindOf is the kind of object an id field refers to: "book" for book_id,
// "author" for author_ids, "" for a bare id (any kind).
func kindOf(field string) string {
	field = strings.TrimSuffix(strings.TrimSuffix(field, "_ids"), "_id")
	if field == "id" || field == "ids" {
		return ""
	}
	return field
}

// plausibleString fits a field by its name: ids of what the harness
// created, currencies, ISBNs, URLs, page tokens and etags seen, words.
func (g *generator) plausibleString(name string) string {
	switch {
	case name == "id" || name == "ids" || strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_ids"):
		var pool []string
		if k := kindOf(name); k != "" {
			pool = g.ids[k]
		} else {
			for _, ids := range g.ids {
				pool = append(pool, ids...)
			}
		}
		if len(pool) > 0 && g.chance(0.8) {
			return pick(g, pool)
		}
		return g.uuid()
	case name == "currency_code":
		if g.chance(0.9) {
			return "EUR"
		}
		return pick(g, []string{"USD", "JPY", "KWD"})
	case name == "isbn":
		if g.chance(0.3) {
			return ""
		}
		return g.isbn()
	case name == "image_url":
		return "https://images.example.com/" + g.word() + ".jpg"
	case name == "page_token":
		if len(g.tokens) > 0 && g.chance(0.5) {
			return pick(g, g.tokens)
		}
		return ""
	case name == "etag":
		if len(g.etags) > 0 && g.chance(0.5) {
			return pick(g, g.etags)
		}
		return ""
	case name == "query":
		return g.word()
	default:
		// Unique enough for unique names; words of their own, so that the
		// fuzzer's books never match another test's searches.
		return "Fuzz " + g.word() + " " + g.word()
	}
}

// word is a random lower-case word that cannot be one of the other tests'
// tokens (those are upper-case letters and digits).
func (g *generator) word() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 3+g.r.IntN(8))
	for i := range b {
		b[i] = letters[g.r.IntN(len(letters))]
	}
	return "zq" + string(b)
}

func (g *generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *generator) isbn() string {
	d := "978"
	for len(d) < 12 {
		d += fmt.Sprint(g.r.IntN(10))
	}
	return d + isbnCheckDigit(d)
}

// hostileStrings are texts that have broken servers before: every
// character class a database or a log may choke on, and lengths around
// and far beyond the contract's maxima.
var hostileStrings = []string{
	"", " ", "\t\n", "\x00", "a\x00b", "\x00\x00\x00",
	"\x01\x02\x07\x08\x1b[31mred\x1b[0m\x7f", "\r\n\r\nHTTP/1.1 200 OK", "line1\nline2",
	"\u202egnp.exe", "\ufeffbom", "\u200b", "\U0001F4DA📖", "ẞ", "İ", "ﬃ", "\u0301", "漢字", "\ufffd",
	"'; DROP TABLE books; --", `" OR 1=1 --`, "%", "_", "\\", "%_\\%", "$1", "{{.}}", "${jndi:ldap://x}",
	"<script>alert(1)</script>", "../../etc/passwd", "NaN", "-0", "1e999", "null", "[]", "{}",
	"-", "\"", "\"\"\"", "or", "-or -and", "!", "&", "|", ":*", "a:*", "!!", "(", ")", "\\:",
	"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "0190a000-0000-7000-8000-00000000000g",
	"https://", "javascript:alert(1)", "http://169.254.169.254/", "ftp://x", "https://exa mple.com",
	"978-0-306-40615-7", "9780306406158", "0000000000000", "ABC", "EU", "eur", "EURO", "XXX",
}

// hostileString is one of hostileStrings, or a long one: just past a
// maximum, or far beyond every maximum (yet within the request size limit).
func (g *generator) hostileString() string {
	switch g.r.IntN(10) {
	case 0:
		return strings.Repeat(pick(g, []string{"a", "é", "\u00a0", "💥", "x "}), pick(g, []int{65, 121, 201, 1025, 2001, 5001}))
	case 1:
		if g.chance(0.3) {
			return strings.Repeat("w ", 100_000)
		}
		return strings.Repeat("z", 20_000)
	default:
		return pick(g, hostileStrings)
	}
}

// leaf is one scalar slot of a message: a field, or an item of a list.
type leaf struct {
	m     protoreflect.Message
	fd    protoreflect.FieldDescriptor
	index int // in the list; -1 for a singular field
}

// mutateOne makes one scalar of a plausible message hostile, so that the
// hostile value gets past every other check into the handlers.
func (g *generator) mutateOne(m protoreflect.Message) {
	var leaves []leaf
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsMap():
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case fd.IsList():
				for i := range v.List().Len() {
					leaves = append(leaves, leaf{m, fd, i})
				}
			case fd.Kind() == protoreflect.MessageKind:
				walk(v.Message())
			default:
				leaves = append(leaves, leaf{m, fd, -1})
			}
			return true
		})
	}
	walk(m)
	if len(leaves) == 0 {
		return
	}
	l := pick(g, leaves)
	v := g.scalar(l.fd, 1)
	if l.index >= 0 {
		l.m.Mutable(l.fd).List().Set(l.index, v)
		return
	}
	l.m.Set(l.fd, v)
}
