package rating_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/rating"
)

func TestReviewEvents(t *testing.T) {
	r, err := rating.NewReview("0195f3a0-0000-7000-8000-0000000000aa", bookID, alice, rating.ReviewFields{Stars: 4, Title: "Good"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if evs := r.Events(); len(evs) != 1 || evs[0].(rating.ReviewCreated).Review.Stars != 4 {
		t.Fatalf("NewReview raised %#v, want ReviewCreated", evs)
	}
	stored := rating.RestoreReview(r.Record())
	if len(stored.Events()) != 0 {
		t.Fatal("a restored review has events")
	}
	if err := stored.Apply(rating.ReviewFields{Title: "Good"}, []string{rating.FieldTitle}, t0); err != nil || len(stored.Events()) != 0 {
		t.Fatalf("an update to equal values raised %v (%v)", stored.Events(), err)
	}
	if err := stored.Apply(rating.ReviewFields{Stars: 2}, []string{rating.FieldStars}, t0.Add(1)); err != nil {
		t.Fatal(err)
	}
	u, ok := stored.Events()[0].(rating.ReviewUpdated)
	if !ok || u.OldStars != 4 || u.Review.Stars != 2 || u.Review.Version != 2 {
		t.Fatalf("Apply raised %#v", stored.Events())
	}
	if err := stored.Remove(rating.RemovedByModerator, t0.Add(2)); err != nil {
		t.Fatal(err)
	}
	evs := stored.Events()
	d, ok := evs[len(evs)-1].(rating.ReviewDeleted)
	if !ok || len(evs) != 2 || d.OldStars != 2 || d.Reason != rating.RemovedByModerator || d.Review.Version != 3 {
		t.Fatalf("Remove raised %#v", evs)
	}
}
