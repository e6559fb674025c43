package catalog

import (
	"strings"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxFilterIDs    = 50
	MaxQueryLen     = 200
	MaxBatchGet     = 100
)

// BookFilter narrows lists and searches. Empty fields do not filter.
type BookFilter struct {
	CategoryIDs  []string
	PublisherIDs []string
	AuthorIDs    []string
	// MinPrice and MaxPrice bound the effective price; books in another
	// currency are left out when either is set.
	MinPrice    money.Money
	MaxPrice    money.Money
	InStockOnly bool
}

func (f BookFilter) check(v *failure.Violations) {
	for _, l := range []struct {
		name string
		ids  []string
	}{{"filter.category_ids", f.CategoryIDs}, {"filter.publisher_ids", f.PublisherIDs}, {"filter.author_ids", f.AuthorIDs}} {
		if len(l.ids) > MaxFilterIDs {
			v.Add(l.name, "must name at most 50 ids")
		}
		for i, id := range l.ids {
			if !coreid.Valid(id) {
				v.Add(fieldIndex(l.name, i), "must be a UUID")
			}
		}
	}
	if !f.MinPrice.IsZero() && f.MinPrice.Minor() < 0 {
		v.Add("filter.min_price", "must not be negative")
	}
	if !f.MaxPrice.IsZero() && f.MaxPrice.Minor() < 0 {
		v.Add("filter.max_price", "must not be negative")
	}
	if !f.MinPrice.IsZero() && !f.MaxPrice.IsZero() {
		switch {
		case f.MinPrice.Currency() != f.MaxPrice.Currency():
			v.Add("filter.max_price.currency_code", "must be the currency of min_price")
		case f.MinPrice.Minor() > f.MaxPrice.Minor():
			v.Add("filter.max_price", "must not be lower than min_price")
		}
	}
}

// Currency returns the currency the price range is in, or "".
func (f BookFilter) Currency() string {
	if !f.MinPrice.IsZero() {
		return f.MinPrice.Currency()
	}
	return f.MaxPrice.Currency()
}

// BookOrder is what ListBooks sorts by. Ties are broken by id.
type BookOrder int

// The orders.
const (
	OrderTitle BookOrder = iota
	OrderPrice
	OrderCreateTime
	OrderRating
)

// ListBooksQuery asks for one page of live books.
type ListBooksQuery struct {
	Filter     BookFilter
	Order      BookOrder
	Descending bool
	PageSize   int
	// PageToken is the previous page's NextPageToken; adapters define its
	// content and return a failure.Invalid("page_token", ...) for one they
	// did not make or that belongs to another query.
	PageToken string
}

// BookPage is one page of books.
type BookPage struct {
	Books         []*Book
	NextPageToken string
}

// SearchMode is how a search ranks books.
type SearchMode int

// The search modes. SearchAuto is hybrid when the books have embeddings of
// the current model and lexical otherwise.
const (
	SearchAuto SearchMode = iota
	SearchLexical
	SearchSemantic
	SearchHybrid
)

// Why a search answered in another mode than the one asked for.
const (
	// DegradedModelUnavailable: the embedding model did not answer.
	DegradedModelUnavailable = "model_unavailable"
	// DegradedNotEmbedded: no book has an embedding of the model yet.
	DegradedNotEmbedded = "not_embedded"
	// DegradedSemanticOff: this deployment has no embedding model or no
	// vector store.
	DegradedSemanticOff = "semantic_off"
)

// SearchBooksQuery asks for one page of search results.
type SearchBooksQuery struct {
	// Query is in web search syntax ("quoted phrase", or, -word).
	Query     string
	Filter    BookFilter
	PageSize  int
	PageToken string
	// Mode is the ranking asked for.
	Mode SearchMode
	// Embedding is the query's embedding by EmbeddingModel, set by the
	// service for the semantic modes; nil leaves only lexical search.
	Embedding      []float32
	EmbeddingModel string
}

// SearchHit is a book found by a search with its relevance (higher is better).
type SearchHit struct {
	Book      *Book
	Relevance float64
}

// SearchPage is one page of search hits, most relevant first.
type SearchPage struct {
	Hits          []SearchHit
	NextPageToken string
	// Mode is the ranking that answered (never SearchAuto), and Degraded,
	// when not empty, why it is not the one asked for (Degraded...).
	Mode     SearchMode
	Degraded string
}

// EntityPage is one page of authors, categories or publishers by name.
type EntityPage struct {
	Entities      []*Entity
	NextPageToken string
}

func pageSize(n int, v *failure.Violations) int {
	switch {
	case n == 0:
		return DefaultPageSize
	case n < 0 || n > MaxPageSize:
		v.Add("page_size", "must be between 0 and 100")
	}
	return n
}

func (q ListBooksQuery) normalize() (ListBooksQuery, error) {
	var v failure.Violations
	q.PageSize = pageSize(q.PageSize, &v)
	q.Filter.check(&v)
	if q.Order < OrderTitle || q.Order > OrderRating {
		v.Add("order_by", "unknown order")
	}
	return q, v.Err()
}

func (q SearchBooksQuery) normalize() (SearchBooksQuery, error) {
	var v failure.Violations
	q.PageSize = pageSize(q.PageSize, &v)
	q.Filter.check(&v)
	if q.Mode < SearchAuto || q.Mode > SearchHybrid {
		v.Add("mode", "unknown search mode")
	}
	q.Query = strings.TrimSpace(q.Query)
	switch n := utf8.RuneCountInString(q.Query); {
	case !utf8.ValidString(q.Query):
		v.Add("query", "must be valid UTF-8")
	case n == 0:
		v.Add("query", "must not be empty")
	case n > MaxQueryLen:
		v.Add("query", "must be at most 200 characters")
	}
	return q, v.Err()
}
