package inproc

import (
	"context"
	"fmt"
	"strings"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// AssistantCatalog is the assistant's assistant.Catalog over the catalog's
// use cases: what the store's tools search and read.
type AssistantCatalog struct {
	svc *catalog.Service
}

var _ assistant.Catalog = (*AssistantCatalog)(nil)

// NewAssistantCatalog returns the toolbox's catalog port over the catalog
// use cases.
func NewAssistantCatalog(svc *catalog.Service) *AssistantCatalog { return &AssistantCatalog{svc: svc} }

// searchModes maps the toolbox's modes to the catalog's.
var searchModes = map[string]catalog.SearchMode{
	assistant.SearchModeAuto:     catalog.SearchAuto,
	assistant.SearchModeLexical:  catalog.SearchLexical,
	assistant.SearchModeSemantic: catalog.SearchSemantic,
	assistant.SearchModeHybrid:   catalog.SearchHybrid,
}

// SearchBooks searches the live books.
func (c *AssistantCatalog) SearchBooks(ctx context.Context, q assistant.SearchQuery) (assistant.SearchResult, error) {
	mode, ok := searchModes[q.Mode]
	if !ok {
		return assistant.SearchResult{}, fmt.Errorf("assistant catalog: unknown search mode %q", q.Mode)
	}
	page, err := c.svc.SearchBooks(ctx, catalog.SearchBooksQuery{Query: q.Text, PageSize: q.PageSize, PageToken: q.PageToken, Mode: mode})
	if err != nil {
		return assistant.SearchResult{}, err
	}
	out := assistant.SearchResult{NextPageToken: page.NextPageToken, Degraded: page.Degraded, Books: make([]assistant.Book, len(page.Hits))}
	for name, m := range searchModes {
		if m == page.Mode && name != assistant.SearchModeAuto {
			out.Mode = name
		}
	}
	for i, h := range page.Hits {
		out.Books[i] = assistantBook(h.Book)
	}
	return out, nil
}

// GetBook returns a book, deleted or not.
func (c *AssistantCatalog) GetBook(ctx context.Context, id string) (assistant.Book, error) {
	b, err := c.svc.GetBook(ctx, id)
	if err != nil {
		return assistant.Book{}, err
	}
	return assistantBook(b), nil
}

// SimilarBooks returns the books nearest a live book.
func (c *AssistantCatalog) SimilarBooks(ctx context.Context, id string, limit int) (assistant.SimilarResult, error) {
	page, err := c.svc.ListSimilarBooks(ctx, id, limit)
	if err != nil {
		return assistant.SimilarResult{}, err
	}
	out := assistant.SimilarResult{Fallback: page.Fallback, Books: make([]assistant.Book, len(page.Books))}
	for i, b := range page.Books {
		out.Books[i] = assistantBook(b)
	}
	return out, nil
}

func assistantBook(b *catalog.Book) assistant.Book {
	r := b.Record()
	return assistant.Book{
		ID: r.ID, Title: r.Title, Authors: r.AuthorNames, Category: r.CategoryName, Publisher: r.PublisherName,
		Description: r.Description, ISBN: r.ISBN, Price: r.EffectivePrice(), ListPrice: r.Price, InStock: b.InStock(),
		RatingSum: r.RatingSum, RatingCount: int64(r.RatingCount), Deleted: b.Deleted(),
	}
}

// RatingReviewSummaries is the assistant's assistant.ReviewSummaries built
// from the rating context's statistics alone (count, average, histogram):
// the summary every deployment can give, with or without a chat model.
type RatingReviewSummaries struct {
	svc *rating.Service
}

var _ assistant.ReviewSummaries = (*RatingReviewSummaries)(nil)

// NewRatingReviewSummaries returns review summaries from the rating
// statistics.
func NewRatingReviewSummaries(svc *rating.Service) *RatingReviewSummaries {
	return &RatingReviewSummaries{svc: svc}
}

// Summarize describes the book's ratings in a sentence.
func (r *RatingReviewSummaries) Summarize(ctx context.Context, bookID string) (string, string, error) {
	s, err := r.svc.Summary(ctx, bookID)
	if err != nil {
		return "", "", err
	}
	return ratingsText(s), assistant.SummarySourceRatings, nil
}

// ratingsText writes a rating summary as a sentence: "3 reviews, 4.3 stars
// of 5 on average (5 stars: 1, 4 stars: 2, 3 stars: 0, 2 stars: 0, 1 star:
// 0)."
func ratingsText(s rating.Summary) string {
	n := s.Count()
	if n == 0 {
		return "No reviews yet."
	}
	var b strings.Builder
	noun := "reviews"
	if n == 1 {
		noun = "review"
	}
	fmt.Fprintf(&b, "%d %s, %.1f stars of 5 on average (", n, noun, s.Average())
	for stars := len(s.Histogram); stars >= 1; stars-- {
		unit := "stars"
		if stars == 1 {
			unit = "star"
		}
		fmt.Fprintf(&b, "%d %s: %d", stars, unit, s.Histogram[stars-1])
		if stars > 1 {
			b.WriteString(", ")
		}
	}
	b.WriteString(").")
	return b.String()
}

// AssistantOrders is the assistant's assistant.Orders over the ordering
// context's use cases.
type AssistantOrders struct {
	svc *ordering.Service
}

var _ assistant.Orders = (*AssistantOrders)(nil)

// NewAssistantOrders returns the toolbox's orders port over the ordering
// use cases.
func NewAssistantOrders(svc *ordering.Service) *AssistantOrders { return &AssistantOrders{svc: svc} }

// RecentOrders returns userID's newest orders. ListOrders checks the
// caller in ctx too (a customer may list only their own), and an order of
// anyone else is dropped, so that an admin's tools show their own orders
// only.
func (o *AssistantOrders) RecentOrders(ctx context.Context, userID string, limit int) ([]assistant.Order, error) {
	page, err := o.svc.ListOrders(ctx, ordering.ListOrdersInput{UserID: userID, PageSize: limit})
	if err != nil {
		return nil, err
	}
	out := make([]assistant.Order, 0, len(page.Orders))
	for _, v := range page.Orders {
		if v.UserID != userID {
			continue
		}
		ao := assistant.Order{ID: v.ID, Status: v.Status.String(), Total: v.Total, PlacedAt: v.CreatedAt}
		for _, l := range v.Lines {
			ao.Lines = append(ao.Lines, assistant.OrderLine{BookID: l.BookID, Title: l.Title, Quantity: l.Quantity})
		}
		out = append(out, ao)
	}
	return out, nil
}

// AssistantBaskets is the assistant's assistant.Baskets over the basket
// context's use cases, priced by the basket's catalog port.
type AssistantBaskets struct {
	svc   *basket.Service
	books basket.Catalog
}

var _ assistant.Baskets = (*AssistantBaskets)(nil)

// NewAssistantBaskets returns the toolbox's basket port over the basket use
// cases; books prices the lines (the port the basket service itself
// uses).
func NewAssistantBaskets(svc *basket.Service, books basket.Catalog) *AssistantBaskets {
	return &AssistantBaskets{svc: svc, books: books}
}

// Basket returns userID's basket priced now.
func (b *AssistantBaskets) Basket(ctx context.Context, userID string) (assistant.Basket, error) {
	bk, err := b.svc.BasketOf(ctx, userID)
	if err != nil {
		return assistant.Basket{}, err
	}
	var books map[string]basket.Book
	if !bk.IsEmpty() {
		ids := make([]string, 0, len(bk.Lines()))
		for _, l := range bk.Lines() {
			ids = append(ids, l.BookID())
		}
		if books, err = b.books.Books(ctx, ids); err != nil {
			return assistant.Basket{}, err
		}
	}
	p, err := basket.Price(bk, books)
	if err != nil {
		return assistant.Basket{}, err
	}
	out := assistant.Basket{Total: p.Total, ItemCount: p.ItemCount, Lines: make([]assistant.BasketLine, len(p.Lines))}
	for i, l := range p.Lines {
		out.Lines[i] = assistant.BasketLine{BookID: l.BookID, Title: l.Title, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			LineTotal: l.LineTotal, Available: l.Available}
	}
	return out, nil
}
