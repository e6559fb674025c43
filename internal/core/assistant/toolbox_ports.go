package assistant

import (
	"context"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// The ports of the toolbox: what the tools read from the other contexts.
// Each is small and answers in the assistant's own terms, so that the
// toolbox knows no other context's types; internal/adapters/inproc adapts
// the contexts served in the same process.

// Book is a book as the tools show it.
type Book struct {
	ID          string
	Title       string
	Authors     []string
	Category    string
	Publisher   string
	Description string
	ISBN        string
	// Price is what the book sells for now (the sale price when on sale);
	// ListPrice is its regular price.
	Price     money.Money
	ListPrice money.Money
	InStock   bool
	// RatingSum and RatingCount are the exact sum of the review stars and
	// the number of reviews.
	RatingSum   int64
	RatingCount int64
	// Deleted books are still readable by id but no longer sold.
	Deleted bool
}

// The search modes a search may ask for; SearchModeAuto leaves it to the
// catalog (hybrid when the books are embedded, lexical otherwise).
const (
	SearchModeAuto     = ""
	SearchModeLexical  = "lexical"
	SearchModeSemantic = "semantic"
	SearchModeHybrid   = "hybrid"
)

// SearchQuery asks the catalog for one page of live books.
type SearchQuery struct {
	// Text is in web search syntax ("quoted phrase", or, -word).
	Text string
	// Mode is one of the SearchMode constants.
	Mode      string
	PageSize  int
	PageToken string
}

// SearchResult is one page of a search, most relevant first.
type SearchResult struct {
	Books         []Book
	NextPageToken string
	// Mode is the ranking that answered; Degraded, when not empty, says
	// why it is not the one asked for (the catalog's reason, such as
	// "model_unavailable").
	Mode     string
	Degraded string
}

// SimilarResult is the books related to a book. Fallback, when not empty,
// says why they are related by authors and category rather than by
// meaning (the catalog's reason, such as "not_embedded").
type SimilarResult struct {
	Books    []Book
	Fallback string
}

// Catalog is the toolbox's view of the catalog. Implementations must be
// safe for concurrent use.
type Catalog interface {
	// SearchBooks returns one page of live books matching q. An invalid
	// page token is failure.ErrInvalid.
	SearchBooks(ctx context.Context, q SearchQuery) (SearchResult, error)
	// GetBook returns a book, deleted or not; failure.ErrNotFound when the
	// catalog never had it.
	GetBook(ctx context.Context, id string) (Book, error)
	// SimilarBooks returns up to limit live books related to the live book
	// id, nearest first, the book itself excluded; failure.ErrNotFound when
	// there is no such live book.
	SimilarBooks(ctx context.Context, id string, limit int) (SimilarResult, error)
}

// Where a review summary comes from.
const (
	// SummarySourceModel: the chat model wrote it from the reviews.
	SummarySourceModel = "model"
	// SummarySourceRatings: built from the rating statistics alone (no
	// model, or the model is away).
	SummarySourceRatings = "ratings"
)

// ReviewSummaries summarizes the reviews of a book. Implementations must be
// safe for concurrent use.
type ReviewSummaries interface {
	// Summarize returns a short summary of the reviews of the book bookID
	// (a canonical UUID) and where it comes from (a SummarySource
	// constant). A book without reviews has a summary saying so.
	Summarize(ctx context.Context, bookID string) (text, source string, err error)
}

// OrderLine is a line of an order as the tools show it.
type OrderLine struct {
	BookID   string
	Title    string
	Quantity int
}

// Order is an order as the tools show it.
type Order struct {
	ID string
	// Status is the order's status name ("PENDING", "CONFIRMED", ...).
	Status   string
	Total    money.Money
	PlacedAt time.Time
	Lines    []OrderLine
}

// Orders reads a customer's orders. Implementations must be safe for
// concurrent use.
type Orders interface {
	// RecentOrders returns up to limit orders of the customer userID,
	// newest first: that customer's only, whoever else they might see.
	RecentOrders(ctx context.Context, userID string, limit int) ([]Order, error)
}

// BasketLine is a line of a basket as the tools show it.
type BasketLine struct {
	BookID    string
	Title     string
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
	// Available is false for a book that can no longer be ordered; such a
	// line counts in no total.
	Available bool
}

// Basket is a customer's basket priced now.
type Basket struct {
	Lines     []BasketLine
	Total     money.Money
	ItemCount int
}

// Baskets reads a customer's basket. Implementations must be safe for
// concurrent use.
type Baskets interface {
	// Basket returns the basket of the customer userID, priced now; an
	// empty one when they have none.
	Basket(ctx context.Context, userID string) (Basket, error)
}
