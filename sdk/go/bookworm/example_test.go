package bookworm_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// A reseller searches the catalog over gRPC and reads the effective prices in
// exact minor units.
func Example() {
	client := bookworm.NewCatalogClient("http://127.0.0.1:8080", bookworm.WithProtocol(bookworm.GRPC))
	res, err := client.SearchBooks(context.Background(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: "lighthouse", PageSize: 5}))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Msg.GetResults() {
		cents, _ := bookworm.MinorUnits(r.GetBook().GetEffectivePrice())
		fmt.Println(r.GetBook().GetTitle(), cents)
	}
}

// A signed-in reader reviews a book with the rating client.
func ExampleNewRatingClient() {
	ratings := bookworm.NewRatingClient("http://127.0.0.1:8080", bookworm.WithToken("USER-TOKEN"))
	res, err := ratings.CreateReview(context.Background(), connect.NewRequest(&ratingv1.CreateReviewRequest{
		BookId: "0190b6a0-0000-7000-8000-000000000001",
		Review: &ratingv1.ReviewInput{Stars: 5, Title: "Loved it"},
	}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Msg.GetReview().GetId())
}

// A reseller's import: rate-limited writes are sent again after the delay
// the server gives, up to 10 attempts and waits of at most a minute, never
// past the context's deadline.
func ExampleWithRetry() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	catalog := bookworm.NewCatalogClient("https://api.bookworm.example",
		bookworm.WithToken("RESELLER-TOKEN"),
		bookworm.WithRetry(bookworm.RetryPolicy{MaxAttempts: 10, MaxDelay: time.Minute}))
	for _, name := range []string{"Acme Press", "Globex Books"} {
		if _, err := catalog.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{
			Publisher: &catalogv1.PublisherInput{Name: name}})); err != nil {
			log.Fatal(err)
		}
	}
}
