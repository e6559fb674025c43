package events

import (
	"testing"

	"google.golang.org/protobuf/proto"

	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// FuzzDecode feeds Decode whatever a broker could deliver as an event's
// data, binary or JSON: it must fail cleanly or decode a message that
// survives a round trip, never panic.
func FuzzDecode(f *testing.F) {
	seed, _ := proto.Marshal(&ratingv1.ReviewCreated{ReviewId: "r", BookId: "b", Version: 1, Stars: 5})
	f.Add(seed, false)
	f.Add([]byte(`{"reviewId":"r","bookId":"b","version":"1","stars":5,"unknown":true}`), true)
	f.Add([]byte(`{"version":"not a number"}`), true)
	f.Add([]byte{0xff, 0xff, 0xff}, false)
	f.Add([]byte{}, false)
	f.Add([]byte(`[1,2,3]`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		msg := Message{ID: "id", Type: TypeOf(&ratingv1.ReviewCreated{}), Data: data}
		if asJSON {
			msg.ContentType = ContentTypeJSON
		}
		var m ratingv1.ReviewCreated
		if err := Decode(msg, &m); err != nil {
			return
		}
		again, err := proto.Marshal(&m)
		if err != nil {
			t.Fatalf("decoded message does not marshal: %v", err)
		}
		var back ratingv1.ReviewCreated
		if err := Decode(Message{ID: "id", Data: again}, &back); err != nil || !proto.Equal(&m, &back) {
			t.Fatalf("round trip: %v, %v != %v", err, &back, &m)
		}
	})
}

// FuzzParseSource: whatever ce-source arrives, ParseSource never panics, and
// what it accepts is exactly what Source writes.
func FuzzParseSource(f *testing.F) {
	f.Add(Source("0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60", "catalog"))
	f.Add("/bookworm/catalog")
	f.Add("bookworm://")
	f.Add("bookworm://0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60/")
	f.Add("bookworm://urn:uuid:0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60/x")
	f.Fuzz(func(t *testing.T, source string) {
		dep, ctxName, ok := ParseSource(source)
		if !ok {
			return
		}
		if d2, c2, ok2 := ParseSource(Source(dep, ctxName)); !ok2 || d2 != dep || c2 != ctxName {
			t.Fatalf("%q parsed as %q %q, which does not round trip", source, dep, ctxName)
		}
		if len(dep) != 36 || DeploymentShort(dep) == "" {
			t.Fatalf("%q: deployment %q", source, dep)
		}
	})
}
