package e2e

import (
	"slices"
	"testing"

	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// catalogCase is a test of the catalog written once against the generated
// client interface and run through every protocol.
type catalogCase struct {
	name string
	run  func(t *testing.T, c catalogv1connect.CatalogServiceClient)
}

// TestCatalog runs every shared case through every protocol. Protocols run in
// parallel against the one server; each case creates its own data and
// filters by it, so cases never see each other's books.
func TestCatalog(t *testing.T) {
	cases := slices.Concat(
		bookCases(),
		bookValidationCases(),
		updateBookCases(),
		softDeleteCases(),
		entityCases(),
		listCases(),
		searchCases(),
		concurrencyCases(),
	)
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			c := catalogClient(t, p)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, c) })
			}
		})
	}
}
