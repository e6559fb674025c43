package rpc

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// RatingHandler serves bookworm.rating.v1.RatingService over the rating use
// cases. The caller comes from the context, where the authorization
// interceptor put it after checking the RPC's access rule; ownership is the
// core's to check.
type RatingHandler struct {
	svc *rating.Service
}

var _ ratingv1connect.RatingServiceHandler = (*RatingHandler)(nil)

// NewRatingHandler returns the Connect handler of the rating service.
func NewRatingHandler(svc *rating.Service) *RatingHandler { return &RatingHandler{svc: svc} }

// RatingService is the rating service for Options.Services.
func RatingService(svc *rating.Service) Service {
	return NewService[ratingv1connect.RatingServiceHandler](ratingv1connect.RatingServiceName,
		ratingv1connect.NewRatingServiceHandler, NewRatingHandler(svc))
}

// caller returns the signed-in caller, or the anonymous Principal.
func caller(ctx context.Context) identity.Principal {
	p, _ := identity.FromContext(ctx)
	return p
}

func reviewFieldsFromProto(in *ratingv1.ReviewInput) rating.ReviewFields {
	return rating.ReviewFields{Stars: in.GetStars(), Title: in.GetTitle(), Body: in.GetBody()}
}

func reviewToProto(r *rating.Review) *ratingv1.Review {
	rec := r.Record()
	return &ratingv1.Review{
		Id:         rec.ID,
		BookId:     rec.BookID,
		UserId:     rec.UserID,
		UserName:   rec.UserName,
		Stars:      rec.Stars,
		Title:      rec.Title,
		Body:       rec.Body,
		CreateTime: timestamppb.New(rec.CreateTime),
		UpdateTime: timestamppb.New(rec.UpdateTime),
		Etag:       r.Etag(),
	}
}

var reviewOrders = map[ratingv1.ReviewOrder]rating.Order{
	ratingv1.ReviewOrder_REVIEW_ORDER_UNSPECIFIED: rating.OrderNewest,
	ratingv1.ReviewOrder_REVIEW_ORDER_NEWEST:      rating.OrderNewest,
	ratingv1.ReviewOrder_REVIEW_ORDER_HIGHEST:     rating.OrderHighest,
	ratingv1.ReviewOrder_REVIEW_ORDER_LOWEST:      rating.OrderLowest,
}

// CreateReview implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) CreateReview(ctx context.Context, req *connect.Request[ratingv1.CreateReviewRequest]) (*connect.Response[ratingv1.CreateReviewResponse], error) {
	r, err := h.svc.CreateReview(ctx, caller(ctx), req.Msg.GetBookId(), reviewFieldsFromProto(req.Msg.GetReview()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.CreateReviewResponse{Review: reviewToProto(r)}), nil
}

// UpdateReview implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) UpdateReview(ctx context.Context, req *connect.Request[ratingv1.UpdateReviewRequest]) (*connect.Response[ratingv1.UpdateReviewResponse], error) {
	r, err := h.svc.UpdateReview(ctx, caller(ctx), req.Msg.GetId(), req.Msg.GetEtag(),
		reviewFieldsFromProto(req.Msg.GetReview()), maskPaths(req.Msg.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.UpdateReviewResponse{Review: reviewToProto(r)}), nil
}

// DeleteReview implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) DeleteReview(ctx context.Context, req *connect.Request[ratingv1.DeleteReviewRequest]) (*connect.Response[ratingv1.DeleteReviewResponse], error) {
	if err := h.svc.DeleteReview(ctx, caller(ctx), req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.DeleteReviewResponse{}), nil
}

// ListReviews implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) ListReviews(ctx context.Context, req *connect.Request[ratingv1.ListReviewsRequest]) (*connect.Response[ratingv1.ListReviewsResponse], error) {
	order, ok := reviewOrders[req.Msg.GetOrderBy()]
	if !ok {
		order = -1 // refused by the core as an unknown order
	}
	page, err := h.svc.ListReviews(ctx, rating.ListReviewsQuery{
		BookID:    req.Msg.GetBookId(),
		Order:     order,
		PageSize:  int(req.Msg.GetPageSize()),
		PageToken: req.Msg.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	out := &ratingv1.ListReviewsResponse{Reviews: make([]*ratingv1.Review, len(page.Reviews)), NextPageToken: page.NextPageToken}
	for i, r := range page.Reviews {
		out.Reviews[i] = reviewToProto(r)
	}
	return connect.NewResponse(out), nil
}

// GetRatingSummary implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) GetRatingSummary(ctx context.Context, req *connect.Request[ratingv1.GetRatingSummaryRequest]) (*connect.Response[ratingv1.GetRatingSummaryResponse], error) {
	s, err := h.svc.Summary(ctx, req.Msg.GetBookId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.GetRatingSummaryResponse{Summary: &ratingv1.RatingSummary{
		BookId:    s.BookID,
		Count:     s.Count(),
		StarSum:   s.Sum(),
		Average:   s.Average(),
		Histogram: s.Histogram[:],
	}}), nil
}

var summarySources = map[rating.SummarySource]ratingv1.ReviewSummarySource{
	rating.SourceNone:       ratingv1.ReviewSummarySource_REVIEW_SUMMARY_SOURCE_NONE,
	rating.SourceModel:      ratingv1.ReviewSummarySource_REVIEW_SUMMARY_SOURCE_MODEL,
	rating.SourceStatistics: ratingv1.ReviewSummarySource_REVIEW_SUMMARY_SOURCE_STATISTICS,
}

// SummarizeReviews implements ratingv1connect.RatingServiceHandler.
func (h *RatingHandler) SummarizeReviews(ctx context.Context, req *connect.Request[ratingv1.SummarizeReviewsRequest]) (*connect.Response[ratingv1.SummarizeReviewsResponse], error) {
	s, err := h.svc.SummarizeReviews(ctx, req.Msg.GetBookId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.SummarizeReviewsResponse{Summary: &ratingv1.ReviewSummary{
		BookId:         s.BookID,
		Text:           s.Text,
		Source:         summarySources[s.Source],
		Degraded:       s.Degraded,
		DegradedReason: s.DegradedReason,
		ReviewCount:    s.ReviewCount,
		ReviewsRead:    int32(s.ReviewsRead),
		Model:          s.Model,
		CreateTime:     timestamppb.New(s.CreateTime),
	}}), nil
}
