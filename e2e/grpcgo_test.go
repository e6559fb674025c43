package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/grpc/gen/bookworm/catalog/v1/catalogv1grpc"
	"github.com/bookworm-store/bookworm/sdk/go/grpc/gen/bookworm/rating/v1/ratingv1grpc"
)

// TestGRPCGoStubs calls the real server with google.golang.org/grpc and the
// SDK's grpc-go stubs (module sdk/go/grpc), over cleartext HTTP/2: a write
// with a token, reads, and an invalid request whose field violations arrive
// as google.rpc.BadRequest.
func TestGRPCGoStubs(t *testing.T) {
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
	catalog := catalogv1grpc.NewCatalogServiceClient(conn)
	rating := ratingv1grpc.NewRatingServiceClient(conn)

	name := uniq("gRPC-Go Press")
	created, err := catalog.CreatePublisher(admin, &catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{Name: name}})
	if err != nil {
		t.Fatalf("CreatePublisher: %v", err)
	}
	got, err := catalog.GetPublisher(ctx, &catalogv1.GetPublisherRequest{Id: created.GetPublisher().GetId()})
	if err != nil || got.GetPublisher().GetName() != name {
		t.Fatalf("GetPublisher: %v, %v", got, err)
	}
	if _, err := catalog.CreatePublisher(ctx, &catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{Name: uniq("x")}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("CreatePublisher without a token: %v, want Unauthenticated", err)
	}

	_, err = catalog.CreatePublisher(admin, &catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("empty publisher: %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if !strings.Contains(strings.Join(fields, " "), "name") {
		t.Fatalf("field violations %v, want one naming the publisher's name (details %v)", fields, st.Details())
	}

	sum, err := rating.GetRatingSummary(ctx, &ratingv1.GetRatingSummaryRequest{BookId: "0190b6a0-0000-7000-8000-000000000001"})
	if err != nil || sum.GetSummary().GetCount() != 0 {
		t.Fatalf("GetRatingSummary of a book without reviews: %v, %v", sum, err)
	}
}
