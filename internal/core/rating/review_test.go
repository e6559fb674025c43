package rating_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

var (
	t0     = time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	alice  = identity.Principal{Subject: "alice", Name: "Alice", Roles: []string{identity.RoleUser}}
	bob    = identity.Principal{Subject: "bob", Name: "Bob", Roles: []string{identity.RoleUser}}
	admin  = identity.Principal{Subject: "root", Name: "Admin", Roles: []string{identity.RoleUser, identity.RoleAdmin}}
	bookID = "0195f3a0-0000-7000-8000-000000000001"
)

// fields returns the violated field paths of err (nil when err is not a
// ValidationError).
func fields(err error) []string {
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, v := range ve.Violations {
		out = append(out, v.Field)
	}
	return out
}

func TestNewReview(t *testing.T) {
	tests := []struct {
		name    string
		author  identity.Principal
		bookID  string
		fields  rating.ReviewFields
		invalid []string // violated fields; nil means valid
	}{
		{name: "valid", author: alice, bookID: bookID, fields: rating.ReviewFields{Stars: 4, Title: "Good", Body: "Liked it"}},
		{name: "stars and text optional", author: alice, bookID: bookID, fields: rating.ReviewFields{Stars: 1}},
		{name: "five stars, longest title and body", author: alice, bookID: bookID,
			fields: rating.ReviewFields{Stars: 5, Title: strings.Repeat("é", 120), Body: strings.Repeat("ü", 5000)}},
		{name: "zero stars", author: alice, bookID: bookID, fields: rating.ReviewFields{Stars: 0}, invalid: []string{"review.stars"}},
		{name: "six stars", author: alice, bookID: bookID, fields: rating.ReviewFields{Stars: 6}, invalid: []string{"review.stars"}},
		{name: "negative stars", author: alice, bookID: bookID, fields: rating.ReviewFields{Stars: -1}, invalid: []string{"review.stars"}},
		{name: "title too long", author: alice, bookID: bookID,
			fields: rating.ReviewFields{Stars: 3, Title: strings.Repeat("x", 121)}, invalid: []string{"review.title"}},
		{name: "body too long", author: alice, bookID: bookID,
			fields: rating.ReviewFields{Stars: 3, Body: strings.Repeat("x", 5001)}, invalid: []string{"review.body"}},
		{name: "title not UTF-8", author: alice, bookID: bookID,
			fields: rating.ReviewFields{Stars: 3, Title: "\xff"}, invalid: []string{"review.title"}},
		{name: "bad book id and everything else", author: alice, bookID: "42",
			fields:  rating.ReviewFields{Stars: 9, Title: strings.Repeat("x", 200), Body: strings.Repeat("x", 6000)},
			invalid: []string{"book_id", "review.stars", "review.title", "review.body"}},
		{name: "anonymous author", author: identity.Principal{}, bookID: bookID,
			fields: rating.ReviewFields{Stars: 3}, invalid: []string{"user_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rating.NewReview(coreid.New(), tc.bookID, tc.author, tc.fields, t0)
			if tc.invalid == nil {
				if err != nil {
					t.Fatalf("NewReview: %v", err)
				}
				rec := r.Record()
				if rec.Version != 1 || rec.UserID != tc.author.Subject || rec.UserName != tc.author.Name ||
					!rec.CreateTime.Equal(t0) || !rec.UpdateTime.Equal(t0) || rec.Stars != tc.fields.Stars {
					t.Fatalf("record %+v", rec)
				}
				return
			}
			if !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("err = %v, want invalid", err)
			}
			if got := strings.Join(fields(err), ","); got != strings.Join(tc.invalid, ",") {
				t.Fatalf("violations %s, want %s", got, strings.Join(tc.invalid, ","))
			}
		})
	}
}

func TestNewReviewNormalizes(t *testing.T) {
	long := strings.Repeat("n", 300)
	r, err := rating.NewReview(coreid.New(), strings.ToUpper(bookID), identity.Principal{Subject: "s", Name: long},
		rating.ReviewFields{Stars: 2, Title: "  Spaced  ", Body: "  kept  "}, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Record()
	if rec.Title != "Spaced" || rec.Body != "  kept  " || rec.BookID != bookID || len(rec.UserName) != rating.MaxUserNameLen {
		t.Fatalf("record %+v", rec)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name        string
		fields      rating.ReviewFields
		paths       []string
		want        rating.ReviewFields
		wantVersion int64
		invalid     []string
	}{
		{name: "stars only", fields: rating.ReviewFields{Stars: 5, Title: "ignored"}, paths: []string{"stars"},
			want: rating.ReviewFields{Stars: 5, Title: "Title", Body: "Body"}, wantVersion: 2},
		{name: "every field", fields: rating.ReviewFields{Stars: 1, Title: " New ", Body: "New body"}, paths: []string{"stars", "title", "body"},
			want: rating.ReviewFields{Stars: 1, Title: "New", Body: "New body"}, wantVersion: 2},
		{name: "clear the title", fields: rating.ReviewFields{}, paths: []string{"title"},
			want: rating.ReviewFields{Stars: 3, Body: "Body"}, wantVersion: 2},
		{name: "same values change nothing", fields: rating.ReviewFields{Stars: 3, Title: "Title"}, paths: []string{"stars", "title"},
			want: rating.ReviewFields{Stars: 3, Title: "Title", Body: "Body"}, wantVersion: 1},
		{name: "empty mask", paths: nil, invalid: []string{"update_mask"}},
		{name: "unknown path", paths: []string{"stars", "user_id"}, fields: rating.ReviewFields{Stars: 2}, invalid: []string{"update_mask"}},
		{name: "stars out of range", paths: []string{"stars"}, fields: rating.ReviewFields{Stars: 0}, invalid: []string{"review.stars"}},
		{name: "invalid field outside the mask is not read", paths: []string{"body"}, fields: rating.ReviewFields{Stars: 0, Body: "b"},
			want: rating.ReviewFields{Stars: 3, Title: "Title", Body: "b"}, wantVersion: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rating.NewReview(coreid.New(), bookID, alice, rating.ReviewFields{Stars: 3, Title: "Title", Body: "Body"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			t1 := t0.Add(time.Hour)
			err = r.Apply(tc.fields, tc.paths, t1)
			if tc.invalid != nil {
				if got := strings.Join(fields(err), ","); got != strings.Join(tc.invalid, ",") {
					t.Fatalf("err %v: violations %s, want %s", err, got, strings.Join(tc.invalid, ","))
				}
				if r.Record().Version != 1 {
					t.Fatal("a failed Apply changed the version")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := r.Record()
			if rec.ReviewFields != tc.want || rec.Version != tc.wantVersion {
				t.Fatalf("got %+v v%d, want %+v v%d", rec.ReviewFields, rec.Version, tc.want, tc.wantVersion)
			}
			if wantTime := map[bool]time.Time{true: t1, false: t0}[tc.wantVersion == 2]; !rec.UpdateTime.Equal(wantTime) {
				t.Fatalf("update time %v, want %v", rec.UpdateTime, wantTime)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	r, err := rating.NewReview(coreid.New(), bookID, alice, rating.ReviewFields{Stars: 3}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, gone := r.Removed(); gone {
		t.Fatal("a new review is removed")
	}
	if err := r.Remove(rating.RemoveReason(42), t0); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("unknown reason: %v", err)
	}
	if err := r.Remove(rating.RemovedByModerator, t0); err != nil {
		t.Fatal(err)
	}
	if reason, gone := r.Removed(); !gone || reason != rating.RemovedByModerator || r.Record().Version != 2 {
		t.Fatalf("removed %v %v, version %d", reason, gone, r.Record().Version)
	}
	if err := r.Remove(rating.RemovedByAuthor, t0); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
	if err := r.Apply(rating.ReviewFields{Stars: 1}, []string{"stars"}, t0); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("Apply after Remove: %v", err)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name      string
		histogram [5]int64
		count     int64
		sum       int64
		average   float64
	}{
		{name: "empty", count: 0, sum: 0, average: 0},
		{name: "one five", histogram: [5]int64{0, 0, 0, 0, 1}, count: 1, sum: 5, average: 5},
		{name: "mixed", histogram: [5]int64{1, 0, 2, 0, 1}, count: 4, sum: 1 + 6 + 5, average: 3},
		{name: "thirds", histogram: [5]int64{0, 0, 0, 2, 1}, count: 3, sum: 13, average: 13.0 / 3.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := rating.Summary{Histogram: tc.histogram}
			if s.Count() != tc.count || s.Sum() != tc.sum || s.Average() != tc.average {
				t.Fatalf("count %d sum %d average %v, want %d %d %v", s.Count(), s.Sum(), s.Average(), tc.count, tc.sum, tc.average)
			}
		})
	}
}
