package inproc

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/rating"
)

func TestRatingsText(t *testing.T) {
	tests := []struct {
		name      string
		histogram [rating.MaxStars]int64
		want      string
	}{
		{"no reviews", [rating.MaxStars]int64{}, "No reviews yet."},
		{"one review", [rating.MaxStars]int64{0, 0, 0, 1, 0}, "1 review, 4.0 stars of 5 on average (5 stars: 0, 4 stars: 1, 3 stars: 0, 2 stars: 0, 1 star: 0)."},
		{"several", [rating.MaxStars]int64{0, 0, 0, 2, 1}, "3 reviews, 4.3 stars of 5 on average (5 stars: 1, 4 stars: 2, 3 stars: 0, 2 stars: 0, 1 star: 0)."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratingsText(rating.Summary{Histogram: tc.histogram}); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
