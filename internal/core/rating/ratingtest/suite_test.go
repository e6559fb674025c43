package ratingtest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/rating"
	"github.com/bookworm-store/bookworm/internal/core/rating/ratingtest"
)

func TestMemoryReviewStore(t *testing.T) {
	ratingtest.RunReviewStore(t, func(*testing.T) rating.ReviewStore { return ratingtest.NewMemoryReviewStore() })
}
