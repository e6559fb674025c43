package bookworm_test

import (
	"context"
	"fmt"
	"log"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
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
