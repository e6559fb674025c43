package ratingstore

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// FuzzDecodeReviewRejected feeds the rating context's consumer whatever
// data a ReviewRejected could carry, binary or JSON: decoding fails cleanly
// or yields a message that survives a round trip, never a panic.
func FuzzDecodeReviewRejected(f *testing.F) {
	seed, _ := proto.Marshal(&ratingv1.ReviewRejected{ReviewId: "0195f3a0-0000-7000-8000-0000000000a1",
		BookId: "0195f3a0-0000-7000-8000-0000000000b1", Version: 1, Reason: ratingv1.ReviewRejected_REASON_BOOK_DELETED})
	f.Add(seed, false)
	f.Add([]byte(`{"reviewId":"r","bookId":"b","version":"2","reason":"REASON_BOOK_NOT_FOUND"}`), true)
	f.Add([]byte(`{"reason":99}`), true)
	f.Add([]byte{0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		msg := events.Message{ID: "fuzz", Type: reviewRejectedType, Data: data}
		if asJSON {
			msg.ContentType = events.ContentTypeJSON
		}
		var m ratingv1.ReviewRejected
		if err := events.Decode(msg, &m); err != nil {
			return
		}
		again, err := proto.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		var back ratingv1.ReviewRejected
		if err := proto.Unmarshal(again, &back); err != nil || !proto.Equal(&m, &back) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
