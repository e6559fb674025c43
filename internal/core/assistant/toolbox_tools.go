package assistant

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// The tools' names.
const (
	ToolSearchCatalog = "search_catalog"
	ToolGetBook       = "get_book"
	ToolSimilarBooks  = "similar_books"
	ToolReviewSummary = "review_summary"
	ToolMyOrders      = "my_orders"
	ToolMyBasket      = "my_basket"
)

// Bounds of the tools' arguments.
const (
	MaxToolQueryLen     = 200
	MaxToolPageSize     = 10
	DefaultToolPageSize = 5
	MaxToolPageTokenLen = 1024
)

// How much of a book and an order the results show.
const (
	maxDescriptionRunes = 1500
	maxOrderLinesShown  = 5
)

// The parameters' names.
const (
	bookIDParamName      = "book_id"
	bookIDDescription    = "the book's id (a UUID, as search_catalog returns it)"
	limitParamName       = "limit"
	pageSizeParamName    = "page_size"
	pageTokenParamName   = "page_token"
	searchQueryParamName = "query"
	searchModeParamName  = "mode"
)

var (
	searchParams = []param{
		stringParam(searchQueryParamName, `what to look for: words of a title, an author's name, a subject or a description of the book wanted; "quoted phrase", or, -word work as in web search`, 1, MaxToolQueryLen).must(),
		enumParam(searchModeParamName, "ranking: lexical matches the words, semantic the meaning, hybrid both; leave it out to let the store choose",
			SearchModeLexical, SearchModeSemantic, SearchModeHybrid),
		intParam(pageSizeParamName, "how many books to return (default 5)", 1, MaxToolPageSize),
		stringParam(pageTokenParamName, "next_page_token of the previous result, for the next books of the same query and mode", 0, MaxToolPageTokenLen),
	}
	getBookParams      = []param{idParam(bookIDParamName, bookIDDescription).must()}
	similarParams      = []param{idParam(bookIDParamName, bookIDDescription).must(), intParam(limitParamName, "how many books to return (default 5)", 1, MaxToolPageSize)}
	reviewSummaryParam = []param{idParam(bookIDParamName, bookIDDescription).must()}
	myOrdersParams     = []param{intParam(limitParamName, "how many orders to return, newest first (default 5)", 1, MaxToolPageSize)}
)

// catalogTools are the public tools.
func catalogTools(cat Catalog, reviews ReviewSummaries) []*toolDef {
	return []*toolDef{
		{
			Tool: Tool{Name: ToolSearchCatalog, Parameters: objectSchema(searchParams...),
				Description: "Search the bookstore's catalog for books on sale. Returns the best matches first: id, title, authors, " +
					"price (exact, with currency), whether in stock, and the average review stars. Use the ids with the other tools."},
			run: func(ctx context.Context, _ identity.Principal, raw json.RawMessage) (any, error) {
				var a struct {
					Query     string  `json:"query"`
					Mode      *string `json:"mode"`
					PageSize  *int    `json:"page_size"`
					PageToken string  `json:"page_token"`
				}
				if err := decodeArgs(raw, &a, searchParams); err != nil {
					return nil, err
				}
				var v failure.Violations
				q := SearchQuery{Text: strings.TrimSpace(a.Query), PageToken: a.PageToken}
				checkText(&v, searchQueryParamName, q.Text, 1, MaxToolQueryLen)
				if a.Mode != nil {
					switch *a.Mode {
					case SearchModeLexical, SearchModeSemantic, SearchModeHybrid:
						q.Mode = *a.Mode
					default:
						v.Add(searchModeParamName, "must be lexical, semantic or hybrid, or left out")
					}
				}
				q.PageSize = checkRange(&v, pageSizeParamName, a.PageSize, DefaultToolPageSize, 1, MaxToolPageSize)
				checkText(&v, pageTokenParamName, a.PageToken, 0, MaxToolPageTokenLen)
				if err := v.Err(); err != nil {
					return nil, err
				}
				res, err := cat.SearchBooks(ctx, q)
				if err != nil {
					return nil, err
				}
				return searchResult{Books: briefs(res.Books), Mode: res.Mode, Degraded: res.Degraded, NextPageToken: res.NextPageToken}, nil
			},
		},
		{
			Tool: Tool{Name: ToolGetBook, Parameters: objectSchema(getBookParams...),
				Description: "Get one book of the catalog by id: title, authors, category, publisher, ISBN, description, price " +
					"(and regular price when on sale), whether in stock, and the average review stars."},
			run: func(ctx context.Context, _ identity.Principal, raw json.RawMessage) (any, error) {
				id, err := bookIDArg(raw, getBookParams)
				if err != nil {
					return nil, err
				}
				b, err := cat.GetBook(ctx, id)
				if err != nil {
					return nil, bookNotFound(err, bookIDParamName)
				}
				return detail(b), nil
			},
		},
		{
			Tool: Tool{Name: ToolSimilarBooks, Parameters: objectSchema(similarParams...),
				Description: "Find books like a given book (for recommendations), nearest in meaning first; the result says whether " +
					"they are related by meaning or, when the store cannot tell, by sharing an author or the category."},
			run: func(ctx context.Context, _ identity.Principal, raw json.RawMessage) (any, error) {
				var a struct {
					BookID string `json:"book_id"`
					Limit  *int   `json:"limit"`
				}
				if err := decodeArgs(raw, &a, similarParams); err != nil {
					return nil, err
				}
				var v failure.Violations
				checkID(&v, bookIDParamName, a.BookID)
				limit := checkRange(&v, limitParamName, a.Limit, DefaultToolPageSize, 1, MaxToolPageSize)
				if err := v.Err(); err != nil {
					return nil, err
				}
				id := coreid.Canonical(a.BookID)
				res, err := cat.SimilarBooks(ctx, id, limit)
				if err != nil {
					return nil, bookNotFound(err, bookIDParamName)
				}
				out := similarResult{BookID: id, Books: briefs(res.Books), RelatedBy: "meaning"}
				if res.Fallback != "" {
					out.RelatedBy = "authors and category"
				}
				return out, nil
			},
		},
		{
			Tool: Tool{Name: ToolReviewSummary, Parameters: objectSchema(reviewSummaryParam...),
				Description: "Summarize what readers say about a book in their reviews. The result says whether the summary was " +
					"written from the reviews' text (source \"model\") or from the star ratings alone (source \"ratings\")."},
			run: func(ctx context.Context, _ identity.Principal, raw json.RawMessage) (any, error) {
				id, err := bookIDArg(raw, reviewSummaryParam)
				if err != nil {
					return nil, err
				}
				// The book must exist: "no reviews" about an id the model
				// made up would mislead it.
				b, err := cat.GetBook(ctx, id)
				if err != nil {
					return nil, bookNotFound(err, bookIDParamName)
				}
				text, source, err := reviews.Summarize(ctx, b.ID)
				if err != nil {
					return nil, err
				}
				return reviewSummary{BookID: b.ID, Title: b.Title, Summary: text, Source: source}, nil
			},
		},
	}
}

// myOrdersTool is the signed-in caller's recent orders.
func myOrdersTool(orders Orders) *toolDef {
	return &toolDef{
		signedIn: true,
		Tool: Tool{Name: ToolMyOrders, Parameters: objectSchema(myOrdersParams...),
			Description: "List the signed-in customer's own recent orders, newest first: id, status (PENDING, CONFIRMED, " +
				"SHIPPED, COMPLETED, FAILED, CANCELLED, ...), total, when placed, and the books ordered."},
		run: func(ctx context.Context, caller identity.Principal, raw json.RawMessage) (any, error) {
			var a struct {
				Limit *int `json:"limit"`
			}
			if err := decodeArgs(raw, &a, myOrdersParams); err != nil {
				return nil, err
			}
			var v failure.Violations
			limit := checkRange(&v, limitParamName, a.Limit, DefaultToolPageSize, 1, MaxToolPageSize)
			if err := v.Err(); err != nil {
				return nil, err
			}
			list, err := orders.RecentOrders(ctx, caller.Subject, limit)
			if err != nil {
				return nil, err
			}
			out := myOrders{Orders: make([]orderView, 0, len(list))}
			for _, o := range list {
				ov := orderView{ID: o.ID, Status: o.Status, Total: amount(o.Total), PlacedAt: o.PlacedAt.UTC().Format(time.RFC3339)}
				for i, l := range o.Lines {
					if i == maxOrderLinesShown {
						ov.MoreBooks = len(o.Lines) - i
						break
					}
					ov.Books = append(ov.Books, orderLineView{Title: l.Title, Quantity: l.Quantity})
				}
				out.Orders = append(out.Orders, ov)
			}
			return out, nil
		},
	}
}

// myBasketTool is the signed-in caller's basket.
func myBasketTool(baskets Baskets) *toolDef {
	return &toolDef{
		signedIn: true,
		Tool: Tool{Name: ToolMyBasket, Parameters: objectSchema(),
			Description: "Show the signed-in customer's own shopping basket, priced now: each book with its quantity, " +
				"unit price and line total, whether it can still be ordered, and the basket's total."},
		run: func(ctx context.Context, caller identity.Principal, raw json.RawMessage) (any, error) {
			var a struct{}
			if err := decodeArgs(raw, &a, nil); err != nil {
				return nil, err
			}
			b, err := baskets.Basket(ctx, caller.Subject)
			if err != nil {
				return nil, err
			}
			out := basketView{Lines: make([]basketLineView, 0, len(b.Lines)), Total: amount(b.Total), ItemCount: b.ItemCount}
			for _, l := range b.Lines {
				out.Lines = append(out.Lines, basketLineView{BookID: l.BookID, Title: l.Title, Quantity: l.Quantity,
					UnitPrice: amount(l.UnitPrice), LineTotal: amount(l.LineTotal), Available: l.Available})
			}
			return out, nil
		},
	}
}

// bookIDArg reads the arguments of a tool whose one parameter is a book id.
func bookIDArg(raw json.RawMessage, params []param) (string, error) {
	var a struct {
		BookID string `json:"book_id"`
	}
	if err := decodeArgs(raw, &a, params); err != nil {
		return "", err
	}
	var v failure.Violations
	checkID(&v, bookIDParamName, a.BookID)
	if err := v.Err(); err != nil {
		return "", err
	}
	return coreid.Canonical(a.BookID), nil
}

// The results, as the model reads them: compact JSON with exact amounts
// as strings ("12.99 EUR").

type bookBrief struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Authors []string `json:"authors,omitempty"`
	Price   string   `json:"price,omitempty"`
	// ListPrice is set when the book is on sale.
	ListPrice string       `json:"list_price,omitempty"`
	InStock   bool         `json:"in_stock"`
	Rating    *ratingBrief `json:"rating,omitempty"`
}

type ratingBrief struct {
	// Average stars of 5, to one decimal.
	Average float64 `json:"average"`
	Reviews int64   `json:"reviews"`
}

type bookDetail struct {
	bookBrief
	Category    string `json:"category,omitempty"`
	Publisher   string `json:"publisher,omitempty"`
	ISBN        string `json:"isbn,omitempty"`
	Description string `json:"description,omitempty"`
	// Deleted books are no longer sold.
	Deleted bool `json:"deleted,omitempty"`
}

type searchResult struct {
	Books         []bookBrief `json:"books"`
	Mode          string      `json:"mode,omitempty"`
	Degraded      string      `json:"degraded,omitempty"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

type similarResult struct {
	BookID    string      `json:"book_id"`
	Books     []bookBrief `json:"books"`
	RelatedBy string      `json:"related_by"`
}

type reviewSummary struct {
	BookID  string `json:"book_id"`
	Title   string `json:"title"`
	Summary string `json:"summary"`
	Source  string `json:"source"`
}

type myOrders struct {
	Orders []orderView `json:"orders"`
}

type orderView struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Total     string          `json:"total,omitempty"`
	PlacedAt  string          `json:"placed_at"`
	Books     []orderLineView `json:"books,omitempty"`
	MoreBooks int             `json:"more_books,omitempty"`
}

type orderLineView struct {
	Title    string `json:"title"`
	Quantity int    `json:"quantity"`
}

type basketView struct {
	Lines     []basketLineView `json:"lines"`
	Total     string           `json:"total,omitempty"`
	ItemCount int              `json:"item_count"`
}

type basketLineView struct {
	BookID    string `json:"book_id"`
	Title     string `json:"title"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unit_price,omitempty"`
	LineTotal string `json:"line_total,omitempty"`
	Available bool   `json:"available"`
}

// amount writes m exactly ("12.99 EUR"), or "" for no amount.
func amount(m money.Money) string {
	if m.IsZero() {
		return ""
	}
	return m.String()
}

func brief(b Book) bookBrief {
	out := bookBrief{ID: b.ID, Title: b.Title, Authors: b.Authors, Price: amount(b.Price), InStock: b.InStock && !b.Deleted}
	if !b.ListPrice.IsZero() && b.ListPrice != b.Price {
		out.ListPrice = amount(b.ListPrice)
	}
	if b.RatingCount > 0 {
		avg := math.Round(float64(b.RatingSum)*10/float64(b.RatingCount)) / 10
		out.Rating = &ratingBrief{Average: avg, Reviews: b.RatingCount}
	}
	return out
}

func briefs(books []Book) []bookBrief {
	out := make([]bookBrief, len(books))
	for i, b := range books {
		out[i] = brief(b)
	}
	return out
}

func detail(b Book) bookDetail {
	d := bookDetail{bookBrief: brief(b), Category: b.Category, Publisher: b.Publisher, ISBN: b.ISBN, Deleted: b.Deleted,
		Description: b.Description}
	if utf8.RuneCountInString(d.Description) > maxDescriptionRunes {
		d.Description = string([]rune(d.Description)[:maxDescriptionRunes]) + "…"
	}
	return d
}
