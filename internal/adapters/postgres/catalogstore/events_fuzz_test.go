package catalogstore

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// FuzzDecodeReviewEvent feeds the catalog's consumer whatever data a review
// event could carry, binary or JSON, under each type it consumes (and one
// it does not): decoding fails cleanly or yields an event whose ids are
// canonical when valid, and validating it never panics.
func FuzzDecodeReviewEvent(f *testing.F) {
	created, _ := proto.Marshal(&ratingv1.ReviewCreated{ReviewId: "0195f3a0-0000-7000-8000-0000000000a1",
		BookId: "0195F3A0-0000-7000-8000-0000000000B1", Version: 1, Stars: 5})
	updated, _ := proto.Marshal(&ratingv1.ReviewUpdated{ReviewId: "x", Version: -1, OldStars: 9, NewStars: -3})
	f.Add(uint8(0), created, false)
	f.Add(uint8(1), updated, false)
	f.Add(uint8(2), []byte(`{"reviewId":"0195f3a0-0000-7000-8000-0000000000a1","version":"3","oldStars":2}`), true)
	f.Add(uint8(3), created, false)
	f.Add(uint8(0), []byte{0x0a, 0xff}, false)
	types := []string{reviewCreatedType, reviewUpdatedType, reviewDeletedType, "bookworm.rating.v1.ReviewRejected"}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte, asJSON bool) {
		msg := events.Message{ID: "fuzz", Type: types[int(typ)%len(types)], Data: data}
		if asJSON {
			msg.ContentType = events.ContentTypeJSON
		}
		e, err := decodeReviewEvent(msg)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			return
		}
		if e.ReviewID != coreid.Canonical(e.ReviewID) || e.BookID != coreid.Canonical(e.BookID) {
			t.Fatalf("valid event with ids not canonical: %+v", e)
		}
	})
}
