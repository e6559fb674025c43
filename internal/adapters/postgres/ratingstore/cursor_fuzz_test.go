package ratingstore

import (
	"math"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// FuzzReviewPageToken feeds any string to the review list's page-token
// decoder: refused as an invalid page_token, or a cursor with a real id,
// stars in range and a time Postgres can hold, bound to its query. `go
// test -fuzz FuzzReviewPageToken ./internal/adapters/postgres/ratingstore`
// explores beyond the seeds.
func FuzzReviewPageToken(f *testing.F) {
	const query = uint64(0x5eed)
	id := coreid.New()
	for _, s := range []string{
		"",
		reviewCursor{Query: query, Stars: 3, Time: 1, ID: id}.encode(),
		reviewCursor{Query: query + 1, Stars: 3, Time: 1, ID: id}.encode(),         // another query's token
		reviewCursor{Query: query, Stars: 9, Time: 1, ID: id}.encode(),             // stars out of range
		reviewCursor{Query: query, Stars: 1, Time: math.MinInt64, ID: id}.encode(), // a time out of range
		reviewCursor{Query: query, Stars: 1, Time: math.MaxInt64, ID: id}.encode(),
		reviewCursor{Query: query, Stars: 1, Time: 1, ID: "nope"}.encode(),
		pgtest.RawToken(`{"q":24301,"i":"` + id + `","t":9223372036854775807}`),
		pgtest.RawToken(`{"q":24301,"i":"` + id + `","s":"x"}`),
		"!!!not base64!!!",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		r, ok, err := decodeReviewCursor(token, query)
		pgtest.CheckTokenRefusal(t, token, ok, err)
		if !ok {
			return
		}
		switch {
		case r.Query != query || !coreid.Valid(r.ID):
			t.Fatalf("%q: review token accepted as %+v", token, r)
		case r.Stars < 0 || r.Stars > rating.MaxStars:
			t.Fatalf("%q: review token accepted with %d stars", token, r.Stars)
		case r.Time > postgres.MaxTokenKey || r.Time < -postgres.MaxTokenKey:
			t.Fatalf("%q: review token accepted with time %d", token, r.Time)
		}
		if back, ok, err := decodeReviewCursor(r.encode(), query); err != nil || !ok || back != r {
			t.Fatalf("%q: re-encoded review token reads back as %+v, %v, %v", token, back, ok, err)
		}
	})
}
