package ratingstore

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	"github.com/bookworm-store/bookworm/internal/core/rating/ratingtest"
)

// TestReviewStoreContract runs the port's contract on the Postgres store,
// as a role granted only the schemas rating and events: passing it also
// shows that the store touches no other context's tables.
func TestReviewStoreContract(t *testing.T) {
	ratingtest.RunReviewStore(t, func(t *testing.T) rating.ReviewStore {
		return NewReviews(pgtest.RolePool(t, pgtest.NewDatabase(t), "rating", "events"))
	})
}
