// Package rating is the Rating context's domain: the reviews users write
// about books (one per user and book, 1 to 5 stars with a title and a text),
// each book's rating summary, the use cases that change them and the ports
// those use cases need.
//
// The rating context does not own books. It asks the catalog through the
// BookChecker port whether a book may be reviewed, and the catalog learns of
// every review from the events its store publishes (ReviewCreated,
// ReviewUpdated, ReviewDeleted). When a review reaches the catalog after its
// book was deleted, the catalog rejects it and RejectReview removes it here.
// Which events a change raises is decided here (Event: a Review collects
// them as NewReview, Apply and Remove run); the store's contract and an
// in-memory fake live in ratingtest.
package rating

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	coreid "github.com/bookworm-store/bookworm/internal/core/id"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Limits of a review's fields.
const (
	MinStars       = 1
	MaxStars       = 5
	MaxTitleLen    = 120
	MaxBodyLen     = 5000
	MaxUserNameLen = 200
)

// ReviewFields are the fields of a review its author writes.
type ReviewFields struct {
	// Stars is 1 to 5.
	Stars int32
	// Title is at most 120 characters, trimmed; it may be empty.
	Title string
	// Body is at most 5000 characters; it may be empty.
	Body string
}

// RequestField is the name under which requests carry a review's fields;
// violations are reported as "review.stars" and so on.
const RequestField = "review"

// Names of ReviewFields as update masks spell them.
const (
	FieldStars = "stars"
	FieldTitle = "title"
	FieldBody  = "body"
)

// normalize checks every rule of the fields and returns them in canonical
// form (trimmed title).
func (f ReviewFields) normalize() (ReviewFields, error) {
	var v failure.Violations
	if f.Stars < MinStars || f.Stars > MaxStars {
		v.Add(FieldStars, "must be between 1 and 5")
	}
	f.Title = strings.TrimSpace(f.Title)
	switch {
	case !utf8.ValidString(f.Title):
		v.Add(FieldTitle, "must be valid UTF-8")
	case utf8.RuneCountInString(f.Title) > MaxTitleLen:
		v.Add(FieldTitle, "must be at most 120 characters")
	}
	switch {
	case !utf8.ValidString(f.Body):
		v.Add(FieldBody, "must be valid UTF-8")
	case utf8.RuneCountInString(f.Body) > MaxBodyLen:
		v.Add(FieldBody, "must be at most 5000 characters")
	}
	return f, v.Err()
}

// RemoveReason says why a review was removed.
type RemoveReason int

// The reasons.
const (
	// RemovedByAuthor: the author deleted their review.
	RemovedByAuthor RemoveReason = iota + 1
	// RemovedByModerator: an admin deleted another user's review.
	RemovedByModerator
	// RemovedRejected: the catalog could not count the review (its book
	// was deleted before the review reached it).
	RemovedRejected
)

// ReviewRecord is the whole stored state of a review. Adapters read it with
// Review.Record and rebuild a Review from storage with RestoreReview.
type ReviewRecord struct {
	ID     string
	BookID string
	// UserID is the author's subject; UserName their display name when
	// they wrote the review.
	UserID   string
	UserName string
	ReviewFields
	CreateTime time.Time
	UpdateTime time.Time
	// Version is 1 when created and grows by one with every change,
	// removal included; events carry it so consumers can order them.
	Version int64
}

// Review is a user's review of a book. Its fields obey every rule of
// ReviewFields; it can only be made by NewReview, changed by Apply and
// Remove, and restored by RestoreReview.
type Review struct {
	rec     ReviewRecord
	removed RemoveReason // 0 while the review stands
	events  []Event
}

// NewReview validates fields and returns author's new review of the book
// bookID. Violations are reported under "review." (and "book_id").
func NewReview(id, bookID string, author identity.Principal, fields ReviewFields, now time.Time) (*Review, error) {
	if !author.Authenticated() {
		return nil, failure.Invalid("user_id", "a review needs a signed-in author")
	}
	var v failure.Violations
	if !coreid.Valid(bookID) {
		v.Add("book_id", "must be a UUID")
	}
	f, err := fields.normalize()
	v.Merge(RequestField, err)
	if err := v.Err(); err != nil {
		return nil, err
	}
	now = now.UTC()
	r := &Review{rec: ReviewRecord{
		ID:           id,
		BookID:       coreid.Canonical(bookID),
		UserID:       author.Subject,
		UserName:     displayName(author.Name),
		ReviewFields: f,
		CreateTime:   now,
		UpdateTime:   now,
		Version:      1,
	}}
	r.events = []Event{ReviewCreated{Review: r.rec}}
	return r, nil
}

// displayName cuts a name the issuer sent to MaxUserNameLen characters.
func displayName(name string) string {
	name = strings.ToValidUTF8(strings.TrimSpace(name), "")
	if utf8.RuneCountInString(name) <= MaxUserNameLen {
		return name
	}
	return string([]rune(name)[:MaxUserNameLen])
}

// RestoreReview rebuilds a review from storage, which only holds valid
// reviews.
func RestoreReview(r ReviewRecord) *Review { return &Review{rec: r} }

// Record returns a copy of the review's state.
func (r *Review) Record() ReviewRecord { return r.rec }

// ID returns the review's id.
func (r *Review) ID() string { return r.rec.ID }

// UserID returns the id of the review's author.
func (r *Review) UserID() string { return r.rec.UserID }

// Etag returns the version tag clients send back for optimistic concurrency.
func (r *Review) Etag() string { return Etag(r.rec.Version) }

// Removed returns why the review was removed, and false while it stands.
func (r *Review) Removed() (RemoveReason, bool) { return r.removed, r.removed != 0 }

// Apply sets the fields named in paths to their values in fields and checks
// the result as a whole. When that changes anything it bumps the version and
// the update time and raises ReviewUpdated; a change to equal values leaves
// the review as it was, so the store writes (and publishes) nothing.
func (r *Review) Apply(fields ReviewFields, paths []string, now time.Time) error {
	if _, gone := r.Removed(); gone {
		return failure.NotFound("review %s not found", r.rec.ID)
	}
	if len(paths) == 0 {
		return failure.Invalid("update_mask", "must name at least one field")
	}
	next := r.rec.ReviewFields
	var v failure.Violations
	for _, p := range paths {
		switch p {
		case FieldStars:
			next.Stars = fields.Stars
		case FieldTitle:
			next.Title = fields.Title
		case FieldBody:
			next.Body = fields.Body
		default:
			v.Add("update_mask", "unknown field "+strconv.Quote(p))
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	f, err := next.normalize()
	if err != nil {
		return failure.Prefix(RequestField, err)
	}
	if f == r.rec.ReviewFields {
		return nil
	}
	old := r.rec.Stars
	r.rec.ReviewFields = f
	r.rec.UpdateTime = now.UTC()
	r.rec.Version++
	r.events = append(r.events, ReviewUpdated{Review: r.rec, OldStars: old})
	return nil
}

// Remove marks the review removed for reason, bumps its version and raises
// ReviewDeleted: the store then deletes it and announces the removal.
func (r *Review) Remove(reason RemoveReason, now time.Time) error {
	if _, gone := r.Removed(); gone {
		return failure.NotFound("review %s not found", r.rec.ID)
	}
	if reason < RemovedByAuthor || reason > RemovedRejected {
		return failure.Invalid("reason", "unknown removal reason")
	}
	r.removed = reason
	r.rec.UpdateTime = now.UTC()
	r.rec.Version++
	r.events = append(r.events, ReviewDeleted{Review: r.rec, OldStars: r.rec.Stars, Reason: reason})
	return nil
}

// Etag returns the version tag of version.
func Etag(version int64) string { return strconv.FormatInt(version, 10) }
