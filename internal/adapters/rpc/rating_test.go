package rpc

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// TestRatingValidation: the contract's rules refuse malformed rating
// requests with InvalidArgument naming the fields, before the use cases
// (over nil ports, which would panic into Internal) are reached.
func TestRatingValidation(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), MaxRequestBytes: 1 << 20, Services: []Service{RatingService(rating.NewService(nil, nil, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	client := ratingv1connect.NewRatingServiceClient(srv.Client(), srv.URL)
	ctx := t.Context()
	bookID := coreid.New()
	tests := []struct {
		name   string
		call   func() error
		fields []string
	}{
		{"create: no review", func() error {
			_, err := client.CreateReview(ctx, connect.NewRequest(&ratingv1.CreateReviewRequest{BookId: bookID}))
			return err
		}, []string{"review"}},
		{"create: stars, title, body, book", func() error {
			_, err := client.CreateReview(ctx, connect.NewRequest(&ratingv1.CreateReviewRequest{BookId: "nope",
				Review: &ratingv1.ReviewInput{Stars: 6, Title: strings.Repeat("t", 121), Body: strings.Repeat("b", 5001)}}))
			return err
		}, []string{"book_id", "review.stars", "review.title", "review.body"}},
		{"update: no mask", func() error {
			_, err := client.UpdateReview(ctx, connect.NewRequest(&ratingv1.UpdateReviewRequest{Id: coreid.New()}))
			return err
		}, []string{"update_mask"}},
		{"delete: bad id", func() error {
			_, err := client.DeleteReview(ctx, connect.NewRequest(&ratingv1.DeleteReviewRequest{Id: "1"}))
			return err
		}, []string{"id"}},
		{"list: order and size", func() error {
			_, err := client.ListReviews(ctx, connect.NewRequest(&ratingv1.ListReviewsRequest{BookId: bookID, PageSize: 101, OrderBy: 9}))
			return err
		}, []string{"page_size", "order_by"}},
		{"summary: bad book", func() error {
			_, err := client.GetRatingSummary(ctx, connect.NewRequest(&ratingv1.GetRatingSummaryRequest{BookId: "b"}))
			return err
		}, []string{"book_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *connect.Error
			if err := tc.call(); !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
			var got []string
			for _, d := range ce.Details() {
				if v, err := d.Value(); err == nil {
					if br, ok := v.(*errdetails.BadRequest); ok {
						for _, fv := range br.GetFieldViolations() {
							got = append(got, fv.GetField())
						}
					}
				}
			}
			slices.Sort(got)
			want := slices.Clone(tc.fields)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("violations on %v, want %v", got, want)
			}
		})
	}
}
