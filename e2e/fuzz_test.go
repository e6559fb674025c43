package e2e

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The knobs of TestFuzzEveryRPC. CI runs the default: a bounded run of
// about half a minute. For a long run:
//
//	go test ./e2e -run TestFuzzEveryRPC -bookworm.fuzz.n=500 -bookworm.fuzz.seed=7 -timeout 2h
//
// or BOOKWORM_FUZZ_ITERATIONS / BOOKWORM_FUZZ_SEED in the environment.
var (
	fuzzIterations = flag.Int("bookworm.fuzz.n", 0,
		"random requests per method, protocol and caller in TestFuzzEveryRPC (default: BOOKWORM_FUZZ_ITERATIONS, else 48)")
	fuzzSeed = flag.Uint64("bookworm.fuzz.seed", 0,
		"seed of TestFuzzEveryRPC (default: BOOKWORM_FUZZ_SEED, else a fixed seed, so CI runs are repeatable)")
)

// defaultFuzzSeed makes CI runs repeatable; change the seed to explore.
const defaultFuzzSeed = 20261201

func fuzzSettings(t *testing.T) (n int, seed uint64) {
	t.Helper()
	n, seed = 48, defaultFuzzSeed
	if v := os.Getenv("BOOKWORM_FUZZ_ITERATIONS"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			t.Fatalf("BOOKWORM_FUZZ_ITERATIONS=%q: want a count", v)
		}
		n = x
	}
	if v := os.Getenv("BOOKWORM_FUZZ_SEED"); v != "" {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("BOOKWORM_FUZZ_SEED=%q: want a number", v)
		}
		seed = x
	}
	if *fuzzIterations > 0 {
		n = *fuzzIterations
	}
	if *fuzzSeed != 0 {
		seed = *fuzzSeed
	}
	return n, seed
}

// fuzzCaller is who sends a request.
type fuzzCaller struct {
	name  string
	token string
}

// fuzzRun is one run of the harness against a server.
type fuzzRun struct {
	t       *testing.T
	s       *server
	g       *generator
	clients map[wire]*http.Client
	// requests counts what was sent; codes what came back, by method.
	requests int
	codes    map[string]map[string]int
	// failures are the distinct bad answers, with one request each.
	failures map[string]string
	seed     uint64
}

// TestFuzzEveryRPC sends every method of every service the server serves
// (found by reflection, so a new RPC is fuzzed without editing this test)
// valid-shaped and hostile requests built from the method's input
// descriptor, over Connect JSON, Connect binary and gRPC, as an anonymous
// visitor, a user and an admin. It fails on any Internal, Unknown,
// DataLoss, Unimplemented or DeadlineExceeded answer, any call that hangs
// past its deadline, and any ERROR line the server logs meanwhile.
//
// The admin's writes land in the shared database: the fuzzer creates
// books, authors, ... with names of its own ("Fuzz zq..."), and only ever
// updates or deletes what it created itself.
func TestFuzzEveryRPC(t *testing.T) {
	n, seed := fuzzSettings(t)
	t.Logf("fuzz seed %d, %d requests per method, protocol and caller (repeat: -bookworm.fuzz.seed=%d -bookworm.fuzz.n=%d)", seed, n, seed, n)
	start := time.Now()
	offset := logOffset(t, srv)

	var methods []protoreflect.MethodDescriptor
	for _, s := range servedServices(t, srv) {
		for i := range s.Methods().Len() {
			methods = append(methods, s.Methods().Get(i))
		}
	}
	run := &fuzzRun{
		t: t, s: srv, g: newGenerator(seed), seed: seed,
		clients:  map[wire]*http.Client{wireConnectJSON: http1Client(t), wireConnectProto: h2cClient(t), wireGRPC: h2cClient(t)},
		codes:    map[string]map[string]int{},
		failures: map[string]string{},
	}
	callers := []fuzzCaller{
		{"anonymous", ""},
		{"user", issuer.Token(t, jose.ES256, fmt.Sprintf("fuzz-user-%d", seed), e2eAudience, "user")},
		{"admin", adminToken},
	}
	admin := callers[2]

	// Warm up: plausible creates, in rounds, so that later requests can
	// name real objects (a book needs a category, a publisher and authors;
	// a review needs a book).
	for range 3 {
		for _, m := range methods {
			if strings.HasPrefix(string(m.Name()), "Create") {
				for _, w := range fuzzWires {
					run.structured(m, w, admin, 0)
				}
			}
		}
	}
	if len(run.g.ids) == 0 {
		t.Errorf("the warm-up created nothing: the fuzzer cannot reach past validation")
	}

	// Plausible, plausible but for one hostile value (-1), then more and
	// more hostile values everywhere.
	hostility := []float64{0, -1, -1, 0.1, 0.3, 0.6}
	// Round by round over every method, so that creates and deletes
	// interleave and later requests still find objects to name.
	for i := range n {
		for _, m := range methods {
			for _, w := range fuzzWires {
				for _, c := range callers {
					run.structured(m, w, c, hostility[i%len(hostility)])
				}
			}
		}
	}
	for _, m := range methods {
		for _, w := range fuzzWires {
			run.hostileBodies(m, w, admin)
			run.hostileBodies(m, w, callers[0])
		}
	}

	// The server is still there and still serves.
	if res, err := http.Get(srv.baseURL + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("after fuzzing, /readyz: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	run.report(time.Since(start))
	// The fuzzer's writes raise events (reviews counted by the catalog,
	// rejected, removed): give the relay and the consumers a moment, so
	// that an error they log about the fuzzer's data fails this test too.
	time.Sleep(3 * time.Second)
	if errs := serverErrorsSince(t, srv, offset); len(errs) > 0 {
		if len(errs) > 20 {
			errs = append(errs[:20], fmt.Sprintf("... and %d more", len(errs)-20))
		}
		t.Errorf("the server logged ERROR lines while being fuzzed:\n%s", strings.Join(errs, "\n"))
	}
}

// structured sends one generated message of m's input type.
func (r *fuzzRun) structured(m protoreflect.MethodDescriptor, w wire, c fuzzCaller, hostility float64) {
	msg := r.g.message(m.Input(), max(hostility, 0), 0)
	if hostility < 0 {
		r.g.mutateOne(msg)
	}
	var body []byte
	var err error
	if w.json() {
		body, err = protojson.Marshal(msg)
		if err != nil {
			// JSON writes a FieldMask as one string of camelCase paths and
			// cannot carry every path binary can: drop those (hostileJSON
			// sends broken masks as raw JSON), and clamp Timestamps.
			jsonSafeMasks(msg)
			body, err = protojson.Marshal(msg)
		}
	} else {
		body, err = proto.Marshal(msg)
	}
	if err != nil {
		r.t.Fatalf("encoding a generated %s: %v", m.Input().FullName(), err)
	}
	out := r.send(m, w, c, "structured", body, false)
	if out.code == 0 && len(out.body) > 0 {
		r.harvest(m, w, out.body)
	}
	if out.code == 0 && strings.HasPrefix(string(m.Name()), "Delete") {
		if fd := m.Input().Fields().ByName("id"); fd != nil {
			r.g.forget(msg.Get(fd).String())
		}
	}
}

// jsonSafeMasks keeps the FieldMask paths that JSON can write.
func jsonSafeMasks(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			for i := range v.List().Len() {
				jsonSafeMasks(v.List().Get(i).Message())
			}
			return true
		}
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			// JSON writes a Timestamp as RFC 3339 and cannot carry one out of
			// the years 1 to 9999 or with bad nanos: clamp it (binary sends
			// those as they are).
			tm := v.Message()
			secs, nanos := tm.Descriptor().Fields().ByName("seconds"), tm.Descriptor().Fields().ByName("nanos")
			tm.Set(secs, protoreflect.ValueOfInt64(min(max(tm.Get(secs).Int(), -62135596800), 253402300799)))
			tm.Set(nanos, protoreflect.ValueOfInt32(min(max(int32(tm.Get(nanos).Int()), 0), 999_999_999)))
			return true
		}
		if fd.Message().FullName() != "google.protobuf.FieldMask" {
			jsonSafeMasks(v.Message())
			return true
		}
		paths := v.Message().Mutable(fd.Message().Fields().ByName("paths")).List()
		var ok []string
		for i := range paths.Len() {
			if p := paths.Get(i).String(); p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyz_.") == "" &&
				!strings.Contains(p, "__") && !strings.HasPrefix(p, "_") && !strings.Contains(p, "_.") {
				ok = append(ok, p)
			}
		}
		paths.Truncate(0)
		for _, p := range ok {
			paths.Append(protoreflect.ValueOfString(p))
		}
		return true
	})
}

// send sends and records one request.
func (r *fuzzRun) send(m protoreflect.MethodDescriptor, w wire, c fuzzCaller, kind string, body []byte, raw bool) outcome {
	out := send(r.clients[w], r.s.baseURL, w, m, c.token, body, raw, nil)
	r.record(m, w, c, kind, body, out, raw && w == wireGRPC)
	return out
}

// hostileHeaders sends a valid message with protocol headers a client
// library would never write: broken timeouts, compression that is not.
func (r *fuzzRun) hostileHeaders(m protoreflect.MethodDescriptor, w wire, c fuzzCaller, enc []byte) {
	cases := map[string]http.Header{
		"timeout not a number":  {"Connect-Timeout-Ms": {"soon"}, "Grpc-Timeout": {"soon"}},
		"timeout of 11 digits":  {"Connect-Timeout-Ms": {"99999999999"}, "Grpc-Timeout": {"999999999S"}},
		"negative timeout":      {"Connect-Timeout-Ms": {"-1"}, "Grpc-Timeout": {"-1m"}},
		"gzip that is not":      {"Content-Encoding": {"gzip"}, "Grpc-Encoding": {"gzip"}},
		"two authorizations":    {"Authorization": {"Bearer a", "Bearer b"}},
		"authorization garbage": {"Authorization": {"Bearer \xc3\xa9.\xff.~!@"}},
		"authorization not JWT": {"Authorization": {"Basic dXNlcjpwYXNz"}},
		"empty bearer":          {"Authorization": {"Bearer "}},
		"protocol version 2":    {"Connect-Protocol-Version": {"2"}},
		"huge accept-encoding":  {"Accept-Encoding": {strings.Repeat("gzip, ", 2000)}},
	}
	names := make([]string, 0, len(cases))
	for k := range cases {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		body := enc
		if k == "gzip that is not" && w == wireGRPC {
			body = envelope(1, enc)
			out := send(r.clients[w], r.s.baseURL, w, m, c.token, body, true, cases[k])
			r.record(m, w, c, k, body, out, false)
			continue
		}
		out := send(r.clients[w], r.s.baseURL, w, m, c.token, body, false, cases[k])
		r.record(m, w, c, k, body, out, false)
	}
}

// record counts an answer and remembers it when it is a bad one. Broken
// gRPC frames are judged apart (see below).
func (r *fuzzRun) record(m protoreflect.MethodDescriptor, w wire, c fuzzCaller, kind string, body []byte, out outcome, brokenFrame bool) {
	r.requests++
	name := string(m.Name())
	if r.codes[name] == nil {
		r.codes[name] = map[string]int{}
	}
	code := "ok"
	switch {
	case out.hung:
		code = "HUNG"
	case out.code != 0:
		code = out.code.String()
	}
	// Codec and compression negotiation: the Connect specification
	// prescribes HTTP 415 for an encoding the server does not speak (a GET
	// without one) and unimplemented for an unknown compression.
	negotiation := w == "connect-get" && (strings.HasPrefix(out.detail, "HTTP 415 ") ||
		strings.HasPrefix(out.detail, "HTTP 501 unimplemented: unknown compression"))
	switch {
	case brokenFrame:
		code = "broken frame: " + code
	case negotiation:
		code = "negotiation: " + code
	}
	r.codes[name][code]++
	bad := out.hung || badCode(out.code)
	if negotiation {
		bad = false
	}
	if brokenFrame {
		// A broken gRPC frame never reaches BookWorm's code: the protocol
		// library answers it with the codes the gRPC specification
		// (doc/statuscodes.md) prescribes, Internal for malformed framing
		// and Unimplemented for a unary call with zero or two messages.
		// Those are right; a hang, Unknown or DataLoss is not.
		bad = out.hung || out.code == connect.CodeUnknown || out.code == connect.CodeDataLoss ||
			out.code == connect.CodeDeadlineExceeded
	}
	if bad {
		key := fmt.Sprintf("%s over %s as %s (%s): %s: %s", m.FullName(), w, c.name, kind, code, firstLine(out.detail))
		if _, seen := r.failures[key]; !seen {
			r.failures[key] = shorten(body)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// harvest remembers the ids of what a Create call made, and the etags and
// page tokens of any answer.
func (r *fuzzRun) harvest(m protoreflect.MethodDescriptor, w wire, body []byte) {
	res := dynamicpb.NewMessage(m.Output())
	var err error
	if w.json() {
		err = protojson.Unmarshal(body, res)
	} else {
		err = proto.Unmarshal(body, res)
	}
	if err != nil {
		r.t.Errorf("%s over %s: the response does not decode: %v", m.FullName(), w, err)
		return
	}
	create := strings.HasPrefix(string(m.Name()), "Create")
	var walk func(msg protoreflect.Message, depth int)
	walk = func(msg protoreflect.Message, depth int) {
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.Name() == "etag" && fd.Kind() == protoreflect.StringKind:
				r.g.etags = keep(r.g.etags, v.String())
			case fd.Name() == "next_page_token" && fd.Kind() == protoreflect.StringKind:
				r.g.tokens = keep(r.g.tokens, v.String())
			case fd.Name() == "id" && fd.Kind() == protoreflect.StringKind && create && depth == 1:
				k := snake(string(msg.Descriptor().Name()))
				r.g.ids[k] = keep(r.g.ids[k], v.String())
			case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
				walk(v.Message(), depth+1)
			case fd.Kind() == protoreflect.MessageKind && fd.IsList():
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message(), depth+1)
				}
			}
			return true
		})
	}
	walk(res, 0)
}

// keep adds v to a pool of at most 64, the oldest out first.
func keep(pool []string, v string) []string {
	if v == "" || slices.Contains(pool, v) {
		return pool
	}
	pool = append(pool, v)
	if len(pool) > 64 {
		pool = pool[1:]
	}
	return pool
}

// snake turns a message name into the word field names use ("Book" →
// "book", "BookInput" → "book_input").
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hostileBodies sends the bodies no client library would: garbage,
// truncation, invalid UTF-8, wrong types, deep nesting, oversized bodies,
// and (gRPC) broken frames.
func (r *fuzzRun) hostileBodies(m protoreflect.MethodDescriptor, w wire, c fuzzCaller) {
	valid := r.g.message(m.Input(), 0, 0)
	var enc []byte
	if w.json() {
		enc, _ = protojson.Marshal(valid)
	} else {
		enc, _ = proto.Marshal(valid)
	}
	garbage := make([]byte, 1+r.g.r.IntN(64))
	for i := range garbage {
		garbage[i] = byte(r.g.r.IntN(256))
	}
	bodies := map[string][]byte{
		"empty body":      {},
		"garbage":         garbage,
		"truncated":       enc[:len(enc)/2],
		"oversized body":  []byte(`{"x":"` + strings.Repeat("x", 2<<20) + `"}`),
		"just too large":  append(slices.Clone(enc), make([]byte, 1<<20)...),
		"one byte 0xff":   {0xff},
		"NUL bytes":       make([]byte, 64),
		"doubled message": append(slices.Clone(enc), enc...),
	}
	if w.json() {
		for k, v := range r.hostileJSON(m.Input()) {
			bodies[k] = v
		}
	} else {
		for k, v := range hostileProto(m.Input(), enc) {
			bodies[k] = v
		}
	}
	names := make([]string, 0, len(bodies))
	for k := range bodies {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.send(m, w, c, k, bodies[k], false)
	}
	r.hostileHeaders(m, w, c, enc)
	// Connect GET is for unary methods only (a side-effect-free stream,
	// WatchOrder, is no GET: connect-go answers 405).
	if w == wireConnectJSON && !m.IsStreamingClient() && !m.IsStreamingServer() &&
		m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
		r.hostileGets(m, c, bodies, enc)
	}
	if w == wireGRPC {
		frames := map[string][]byte{
			"no frame":                       {},
			"frame header only":              {0, 0, 0, 0, 5},
			"length beyond the body":         append([]byte{0, 0, 0, 1, 0}, enc...),
			"length of 4 GiB":                append([]byte{0, 0xff, 0xff, 0xff, 0xff}, enc...),
			"compressed flag, no encoding":   envelope(1, enc),
			"unknown flags":                  envelope(0x80, enc),
			"two messages for a unary call":  append(envelope(0, enc), envelope(0, enc)...),
			"trailing bytes after the frame": append(envelope(0, enc), 1, 2, 3),
		}
		names = names[:0]
		for k := range frames {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			r.send(m, w, c, k, frames[k], true)
		}
	}
}

// hostileGets sends a read's hostile bodies in the query string of a
// Connect GET, and query strings that are themselves broken.
func (r *fuzzRun) hostileGets(m protoreflect.MethodDescriptor, c fuzzCaller, bodies map[string][]byte, valid []byte) {
	queries := map[string]url.Values{
		"GET without a message":   {"encoding": {"json"}},
		"GET without an encoding": {"message": {string(valid)}},
		"GET bad base64":          {"encoding": {"proto"}, "base64": {"1"}, "message": {"%%%"}},
		"GET binary as text":      {"encoding": {"proto"}, "message": {"\xff\x00"}},
		"GET compression unknown": {"encoding": {"json"}, "compression": {"zz"}, "message": {string(valid)}},
		"GET invalid UTF-8":       {"encoding": {"json"}, "message": {"{\"x\":\"\xff\"}"}},
	}
	for k, b := range bodies {
		if len(b) < 64<<10 { // a URL carries small messages only
			queries["GET "+k] = url.Values{"encoding": {"json"}, "message": {string(b)}}
		}
	}
	names := make([]string, 0, len(queries))
	for k := range queries {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r.record(m, "connect-get", c, k, []byte(queries[k].Encode()), sendGet(r.clients[wireConnectJSON], r.s.baseURL, m, c.token, queries[k]), false)
	}
}

// hostileJSON returns JSON bodies of the wrong shape for md: every field
// given a value of each wrong type, invalid UTF-8, unknown fields and enum
// names, numbers out of range, deep nesting and broken syntax.
func (r *fuzzRun) hostileJSON(md protoreflect.MessageDescriptor) map[string][]byte {
	out := map[string][]byte{
		"JSON null":             []byte(`null`),
		"JSON array":            []byte(`[]`),
		"JSON string":           []byte(`"x"`),
		"JSON number":           []byte(`1`),
		"JSON syntax":           []byte(`{"a":`),
		"JSON trailing garbage": []byte(`{} x`),
		"unknown field":         []byte(`{"zzz":1}`),
		"deep nesting":          []byte(`{"zzz":` + strings.Repeat(`[`, 100_000) + strings.Repeat(`]`, 100_000) + `}`),
		"deep object nesting":   []byte(strings.Repeat(`{"a":`, 20_000) + `1` + strings.Repeat(`}`, 20_000)),
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := fd.JSONName()
		var wrong []string
		switch {
		case fd.IsList() || fd.IsMap():
			wrong = []string{`"x"`, `1`, `{}`, `[null]`, `[[]]`, `[{}]`}
		case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			wrong = []string{`1`, `true`, `{}`, `[]`, "\"\xff\xfe\"", `"\ud800"`, `"\u0000"`}
		case fd.Kind() == protoreflect.EnumKind:
			wrong = []string{`"NOPE"`, `999`, `-1`, `1.5`, `true`, `{}`}
		case fd.Kind() == protoreflect.BoolKind:
			wrong = []string{`"yes"`, `1`, `{}`}
		case fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == "google.protobuf.FieldMask":
			wrong = []string{`"a,,b"`, `"A_B"`, `"\u0000"`, `"title,title,title,title,title,title,title,title,title,title,title,title"`, `1`, `[]`}
		case fd.Kind() == protoreflect.MessageKind:
			wrong = []string{`"x"`, `1`, `[]`, `true`, `{"zzz":1}`}
		case fd.Kind() == protoreflect.FloatKind || fd.Kind() == protoreflect.DoubleKind:
			wrong = []string{`"NaN"`, `"Infinity"`, `"-Infinity"`, `1e999`, `"x"`, `{}`}
		default: // integers
			wrong = []string{`"abc"`, `1.5`, `1e40`, `-1e40`, `"9223372036854775808"`, `"-9223372036854775809"`, `4294967296`, `true`, `{}`, `"NaN"`}
		}
		for j, v := range wrong {
			out[fmt.Sprintf("%s = %s (%d)", name, v, j)] = []byte(`{"` + name + `":` + v + `}`)
		}
		out[name+" twice"] = []byte(`{"` + name + `":null,"` + string(fd.Name()) + `":null}`)
	}
	return out
}

// hostileProto returns binary bodies of the wrong shape for md: invalid
// UTF-8 in each string field, wrong wire types, huge lengths, deep nesting.
func hostileProto(md protoreflect.MessageDescriptor, valid []byte) map[string][]byte {
	out := map[string][]byte{
		"a tag without its value": protowire.AppendTag(nil, 1, protowire.BytesType),
		"huge length":             protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), 1<<62),
		"varint of 11 bytes":      append(protowire.AppendTag(nil, 1, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"field number 0":          protowire.AppendVarint(protowire.AppendTag(nil, 0, protowire.VarintType), 1),
		"end group without start": protowire.AppendTag(nil, 5, protowire.EndGroupType),
	}
	var deep []byte
	for range 20_000 {
		deep = protowire.AppendTag(deep, 1000, protowire.StartGroupType)
	}
	for range 20_000 {
		deep = protowire.AppendTag(deep, 1000, protowire.EndGroupType)
	}
	out["unknown groups nested 20000 deep"] = deep
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		num := fd.Number()
		if fd.Kind() == protoreflect.StringKind {
			b := protowire.AppendBytes(protowire.AppendTag(slices.Clone(valid), num, protowire.BytesType), []byte("ok\xff\xfe"))
			out[string(fd.Name())+" invalid UTF-8"] = b
		}
		switch fd.Kind() {
		case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
			out[string(fd.Name())+" as a varint"] = protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), 7)
			out[string(fd.Name())+" as fixed64"] = protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), 7)
		default:
			out[string(fd.Name())+" as bytes"] = protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), []byte("x"))
			out[string(fd.Name())+" max varint"] = protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), 1<<64-1)
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() {
			// The field's own type nested in itself as far as it goes, then
			// garbage inside.
			inner := []byte{0xff, 0xff}
			for range 200 {
				inner = protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
			}
			out[string(fd.Name())+" nested garbage"] = inner
		}
	}
	return out
}

// report logs what was sent and what came back, and fails on every
// distinct bad answer.
func (r *fuzzRun) report(took time.Duration) {
	r.t.Helper()
	methods := make([]string, 0, len(r.codes))
	for m := range r.codes {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	var b strings.Builder
	for _, m := range methods {
		codes := make([]string, 0, len(r.codes[m]))
		for c, n := range r.codes[m] {
			codes = append(codes, fmt.Sprintf("%s %d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, "\n  %-18s %s", m, strings.Join(codes, ", "))
	}
	r.t.Logf("fuzz: %d requests to %d methods in %s; objects created: %v; answers:%s",
		r.requests, len(methods), took.Round(time.Millisecond), poolSizes(r.g.ids), b.String())
	keys := make([]string, 0, len(r.failures))
	for k := range r.failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.t.Errorf("%s\n    request body: %s", k, r.failures[k])
	}
	if len(keys) > 0 {
		r.t.Errorf("fuzz: %d distinct bad answers (seed %d)", len(keys), r.seed)
	}
}

func poolSizes(ids map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range ids {
		out[k] = len(v)
	}
	return out
}
