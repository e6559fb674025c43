package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// ratingProtocols are the protocols the rating cases run through (grpc-go
// reaches the rating service in the authorization matrix).
var ratingProtocols = []protocol{connectJSON, connectProto, connectGet, grpcProto, grpcWeb}

// newRatingClient is the one place clients of the rating service are built.
func newRatingClient(t *testing.T, o clientOptions) ratingv1connect.RatingServiceClient {
	t.Helper()
	httpClient, opts := connectOptions(t, o)
	return ratingv1connect.NewRatingServiceClient(httpClient, srv.baseURL, opts...)
}

// userToken returns a token of the suite's issuer for subject sub with the
// user role.
func userToken(t *testing.T, sub string) string {
	t.Helper()
	return issuer.Token(t, jose.ES256, sub, e2eAudience, "user")
}

// reviewers are the clients of one rating case: two users, the admin and an
// anonymous visitor, each with a unique identity so that cases never share
// reviews.
type reviewers struct {
	alice, bob, admin, anonymous ratingv1connect.RatingServiceClient
	aliceID, bobID               string
}

func newReviewers(t *testing.T, p protocol) reviewers {
	t.Helper()
	r := reviewers{aliceID: "alice-" + token(8), bobID: "bob-" + token(8)}
	r.alice = newRatingClient(t, clientOptions{Protocol: p, Token: userToken(t, r.aliceID)})
	r.bob = newRatingClient(t, clientOptions{Protocol: p, Token: userToken(t, r.bobID)})
	r.admin = newRatingClient(t, clientOptions{Protocol: p, Token: adminToken})
	r.anonymous = newRatingClient(t, clientOptions{Protocol: p})
	return r
}

// ratedBook creates a live book to review.
func ratedBook(t *testing.T) *catalogv1.Book {
	t.Helper()
	c := catalogClient(t, connectProto)
	return newFixture(t, c, 1).createBook(t)
}

func createReview(c ratingv1connect.RatingServiceClient, bookID string, stars int32, title, body string) (*ratingv1.Review, error) {
	res, err := c.CreateReview(context.Background(), connect.NewRequest(&ratingv1.CreateReviewRequest{
		BookId: bookID, Review: &ratingv1.ReviewInput{Stars: stars, Title: title, Body: body}}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetReview(), nil
}

func mustCreateReview(t *testing.T, c ratingv1connect.RatingServiceClient, bookID string, stars int32) *ratingv1.Review {
	t.Helper()
	r, err := createReview(c, bookID, stars, "Worth "+string(rune('0'+stars))+" stars", "Text of the review.")
	if err != nil {
		t.Fatalf("CreateReview: %v", err)
	}
	return r
}

func updateReview(c ratingv1connect.RatingServiceClient, id, etag string, in *ratingv1.ReviewInput, paths ...string) (*ratingv1.Review, error) {
	res, err := c.UpdateReview(context.Background(), connect.NewRequest(&ratingv1.UpdateReviewRequest{
		Id: id, Review: in, UpdateMask: mask(paths...), Etag: etag}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetReview(), nil
}

func deleteReview(c ratingv1connect.RatingServiceClient, id string) error {
	_, err := c.DeleteReview(context.Background(), connect.NewRequest(&ratingv1.DeleteReviewRequest{Id: id}))
	return err
}

func listReviews(t *testing.T, c ratingv1connect.RatingServiceClient, bookID string, order ratingv1.ReviewOrder, size int32) []*ratingv1.Review {
	t.Helper()
	var out []*ratingv1.Review
	token := ""
	for range 1000 {
		res, err := c.ListReviews(context.Background(), connect.NewRequest(&ratingv1.ListReviewsRequest{
			BookId: bookID, OrderBy: order, PageSize: size, PageToken: token}))
		if err != nil {
			t.Fatalf("ListReviews: %v", err)
		}
		out = append(out, res.Msg.GetReviews()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			return out
		}
	}
	t.Fatal("ListReviews never ends")
	return nil
}

func summary(t *testing.T, c ratingv1connect.RatingServiceClient, bookID string) *ratingv1.RatingSummary {
	t.Helper()
	res, err := c.GetRatingSummary(context.Background(), connect.NewRequest(&ratingv1.GetRatingSummaryRequest{BookId: bookID}))
	if err != nil {
		t.Fatalf("GetRatingSummary: %v", err)
	}
	return res.Msg.GetSummary()
}

// TestReviews runs the rating cases through every protocol. Once their
// events settle, the catalog's figures equal the rating context's.
func TestReviews(t *testing.T) {
	t.Cleanup(func() { everyBookAgrees(t) })
	cases := []struct {
		name string
		run  func(t *testing.T, r reviewers)
	}{
		{"lifecycle", testReviewLifecycle},
		{"validation", testReviewValidation},
		{"ownership", testReviewOwnership},
		{"one review per user and book", testOneReviewPerBook},
		{"list orders and pages", testListReviews},
	}
	for _, p := range ratingProtocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newReviewers(t, p)) })
			}
		})
	}
}

func testReviewLifecycle(t *testing.T, r reviewers) {
	book := ratedBook(t)
	created, err := createReview(r.alice, book.GetId(), 4, "  A fine read  ", "Liked the second half best.")
	if err != nil {
		t.Fatal(err)
	}
	if created.GetBookId() != book.GetId() || created.GetUserId() != r.aliceID || created.GetUserName() != "User "+r.aliceID ||
		created.GetStars() != 4 || created.GetTitle() != "A fine read" || created.GetBody() != "Liked the second half best." ||
		created.GetEtag() != "1" || created.GetCreateTime() == nil || !created.GetCreateTime().AsTime().Equal(created.GetUpdateTime().AsTime()) {
		t.Fatalf("created %v", created)
	}

	// Anyone reads it.
	got := listReviews(t, r.anonymous, book.GetId(), ratingv1.ReviewOrder_REVIEW_ORDER_UNSPECIFIED, 0)
	if len(got) != 1 || got[0].GetId() != created.GetId() || got[0].GetTitle() != "A fine read" {
		t.Fatalf("listed %v", got)
	}
	s := summary(t, r.anonymous, book.GetId())
	if s.GetBookId() != book.GetId() || s.GetCount() != 1 || s.GetStarSum() != 4 || s.GetAverage() != 4 ||
		!slices.Equal(s.GetHistogram(), []int64{0, 0, 0, 1, 0}) {
		t.Fatalf("summary %v", s)
	}

	// The author changes the stars only; the text stays.
	updated, err := updateReview(r.alice, created.GetId(), created.GetEtag(), &ratingv1.ReviewInput{Stars: 2, Title: "ignored"}, "stars")
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetStars() != 2 || updated.GetTitle() != "A fine read" || updated.GetEtag() != "2" ||
		!updated.GetUpdateTime().AsTime().After(created.GetUpdateTime().AsTime()) {
		t.Fatalf("updated %v", updated)
	}
	_, err = updateReview(r.alice, created.GetId(), created.GetEtag(), &ratingv1.ReviewInput{Stars: 5}, "stars")
	wantCode(t, err, connect.CodeAborted)
	s = summary(t, r.anonymous, book.GetId())
	if s.GetCount() != 1 || s.GetStarSum() != 2 || !slices.Equal(s.GetHistogram(), []int64{0, 1, 0, 0, 0}) {
		t.Fatalf("summary after update %v", s)
	}

	// The author deletes it.
	if err := deleteReview(r.alice, created.GetId()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, deleteReview(r.alice, created.GetId()), connect.CodeNotFound)
	if got := listReviews(t, r.anonymous, book.GetId(), 0, 0); len(got) != 0 {
		t.Fatalf("listed after delete %v", got)
	}
	if s := summary(t, r.anonymous, book.GetId()); s.GetCount() != 0 || s.GetAverage() != 0 || len(s.GetHistogram()) != 5 {
		t.Fatalf("summary after delete %v", s)
	}
	// A book nobody reviewed, or that does not exist, has an empty summary.
	if s := summary(t, r.anonymous, newID()); s.GetCount() != 0 {
		t.Fatalf("summary of an unknown book %v", s)
	}
}

func testReviewValidation(t *testing.T, r reviewers) {
	book := ratedBook(t)
	id := book.GetId()
	cases := []struct {
		name   string
		bookID string
		in     *ratingv1.ReviewInput
		fields []string
	}{
		{"no stars", id, &ratingv1.ReviewInput{Title: "t"}, []string{"review.stars"}},
		{"six stars", id, &ratingv1.ReviewInput{Stars: 6}, []string{"review.stars"}},
		{"title of 121 characters", id, &ratingv1.ReviewInput{Stars: 3, Title: strings.Repeat("é", 121)}, []string{"review.title"}},
		{"body of 5001 characters", id, &ratingv1.ReviewInput{Stars: 3, Body: strings.Repeat("b", 5001)}, []string{"review.body"}},
		{"malformed book id", "book-1", &ratingv1.ReviewInput{Stars: 3}, []string{"book_id"}},
		{"no review", id, nil, []string{"review"}},
	}
	for _, tc := range cases {
		_, err := r.alice.CreateReview(context.Background(), connect.NewRequest(&ratingv1.CreateReviewRequest{BookId: tc.bookID, Review: tc.in}))
		wantInvalid(t, err, tc.fields...)
	}
	// The longest title and body are fine (characters, not bytes).
	long, err := createReview(r.alice, id, 5, strings.Repeat("é", 120), strings.Repeat("ü", 5000))
	if err != nil {
		t.Fatalf("longest review: %v", err)
	}

	// The book must exist and not be deleted.
	_, err = createReview(r.alice, newID(), 3, "", "")
	wantCode(t, err, connect.CodeNotFound)
	gone := ratedBook(t)
	if _, err := catalogClient(t, connectProto).DeleteBook(context.Background(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: gone.GetId()})); err != nil {
		t.Fatal(err)
	}
	_, err = createReview(r.alice, gone.GetId(), 3, "", "")
	wantCode(t, err, connect.CodeNotFound)

	// Updates are checked as a whole, and only the masked fields are read.
	_, err = updateReview(r.alice, long.GetId(), "", &ratingv1.ReviewInput{Stars: 0}, "stars")
	wantInvalid(t, err, "review.stars")
	_, err = updateReview(r.alice, long.GetId(), "", &ratingv1.ReviewInput{Stars: 3}, "stars", "user_id")
	wantInvalid(t, err, "update_mask")
	_, err = updateReview(r.alice, long.GetId(), "", &ratingv1.ReviewInput{Stars: 3})
	wantInvalid(t, err, "update_mask")
	if u, err := updateReview(r.alice, long.GetId(), "", &ratingv1.ReviewInput{Stars: 0, Body: "short now"}, "body"); err != nil ||
		u.GetStars() != 5 || u.GetBody() != "short now" {
		t.Fatalf("body-only update: %v, %v", u, err)
	}
	_, err = updateReview(r.alice, "nope", "", &ratingv1.ReviewInput{Stars: 3}, "stars")
	wantInvalid(t, err, "id")
	wantInvalid(t, deleteReview(r.alice, "nope"), "id")
}

func testReviewOwnership(t *testing.T, r reviewers) {
	book := ratedBook(t)
	mine := mustCreateReview(t, r.alice, book.GetId(), 4)

	// Nobody but the author changes it: another user and the admin get
	// NotFound, the same answer as for a review that does not exist.
	for _, c := range []ratingv1connect.RatingServiceClient{r.bob, r.admin} {
		_, err := updateReview(c, mine.GetId(), "", &ratingv1.ReviewInput{Stars: 1}, "stars")
		wantCode(t, err, connect.CodeNotFound)
	}
	_, errMissing := updateReview(r.bob, newID(), "", &ratingv1.ReviewInput{Stars: 1}, "stars")
	wantCode(t, errMissing, connect.CodeNotFound)
	wantCode(t, deleteReview(r.bob, mine.GetId()), connect.CodeNotFound)
	// Anonymous callers are asked to sign in.
	_, err := createReview(r.anonymous, book.GetId(), 3, "", "")
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = updateReview(r.anonymous, mine.GetId(), "", &ratingv1.ReviewInput{Stars: 1}, "stars")
	wantCode(t, err, connect.CodeUnauthenticated)
	wantCode(t, deleteReview(r.anonymous, mine.GetId()), connect.CodeUnauthenticated)
	if got := listReviews(t, r.anonymous, book.GetId(), 0, 0); len(got) != 1 || got[0].GetStars() != 4 {
		t.Fatalf("refused calls changed the review: %v", got)
	}

	// The admin moderates: they may delete it.
	if err := deleteReview(r.admin, mine.GetId()); err != nil {
		t.Fatalf("admin delete: %v", err)
	}
	if got := listReviews(t, r.anonymous, book.GetId(), 0, 0); len(got) != 0 {
		t.Fatalf("listed after moderation %v", got)
	}
}

func testOneReviewPerBook(t *testing.T, r reviewers) {
	book := ratedBook(t)
	first := mustCreateReview(t, r.alice, book.GetId(), 4)
	_, err := createReview(r.alice, book.GetId(), 1, "again", "")
	wantCode(t, err, connect.CodeAlreadyExists)
	mustCreateReview(t, r.bob, book.GetId(), 2) // another user may
	other := ratedBook(t)
	mustCreateReview(t, r.alice, other.GetId(), 5) // and so may Alice, of another book
	if s := summary(t, r.anonymous, book.GetId()); s.GetCount() != 2 || s.GetStarSum() != 6 {
		t.Fatalf("summary %v", s)
	}
	// After deleting her review Alice may write a new one.
	if err := deleteReview(r.alice, first.GetId()); err != nil {
		t.Fatal(err)
	}
	mustCreateReview(t, r.alice, book.GetId(), 1)
}

func testListReviews(t *testing.T, r reviewers) {
	book := ratedBook(t)
	var want []*ratingv1.Review
	for i := range 7 {
		c := newRatingClient(t, clientOptions{Protocol: connectProto, Token: userToken(t, "lister-"+token(8))})
		want = append(want, mustCreateReview(t, c, book.GetId(), int32(1+(i*3)%5)))
	}
	newestFirst := func(a, b *ratingv1.Review) int {
		if c := b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.GetId(), a.GetId())
	}
	orders := []struct {
		order ratingv1.ReviewOrder
		cmp   func(a, b *ratingv1.Review) int
	}{
		{ratingv1.ReviewOrder_REVIEW_ORDER_NEWEST, newestFirst},
		{ratingv1.ReviewOrder_REVIEW_ORDER_HIGHEST, func(a, b *ratingv1.Review) int {
			if a.GetStars() != b.GetStars() {
				return int(b.GetStars() - a.GetStars())
			}
			return newestFirst(a, b)
		}},
		{ratingv1.ReviewOrder_REVIEW_ORDER_LOWEST, func(a, b *ratingv1.Review) int {
			if a.GetStars() != b.GetStars() {
				return int(a.GetStars() - b.GetStars())
			}
			return newestFirst(a, b)
		}},
	}
	for _, o := range orders {
		slices.SortFunc(want, o.cmp)
		got := listReviews(t, r.anonymous, book.GetId(), o.order, 3)
		if len(got) != len(want) {
			t.Fatalf("%v: %d reviews, want %d", o.order, len(got), len(want))
		}
		for i := range want {
			if got[i].GetId() != want[i].GetId() {
				t.Fatalf("%v: position %d is %s (%d stars), want %s (%d stars)", o.order, i, got[i].GetId(), got[i].GetStars(),
					want[i].GetId(), want[i].GetStars())
			}
		}
	}
	// A token only continues its own query.
	res, err := r.anonymous.ListReviews(context.Background(), connect.NewRequest(&ratingv1.ListReviewsRequest{BookId: book.GetId(), PageSize: 2}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.anonymous.ListReviews(context.Background(), connect.NewRequest(&ratingv1.ListReviewsRequest{
		BookId: book.GetId(), PageSize: 2, PageToken: res.Msg.GetNextPageToken(), OrderBy: ratingv1.ReviewOrder_REVIEW_ORDER_LOWEST}))
	wantInvalid(t, err, "page_token")
	_, err = r.anonymous.ListReviews(context.Background(), connect.NewRequest(&ratingv1.ListReviewsRequest{BookId: book.GetId(), PageSize: 101}))
	wantInvalid(t, err, "page_size")
}
