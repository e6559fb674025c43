package rpc

import (
	"context"
	"slices"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// CatalogHandler serves bookworm.catalog.v1.CatalogService over the
// catalog use cases. Handlers return the core's errors as they are; the error
// interceptor turns them into Connect errors.
type CatalogHandler struct {
	svc *catalog.Service
}

var _ catalogv1connect.CatalogServiceHandler = (*CatalogHandler)(nil)

// NewCatalogHandler returns the Connect handler of the catalog service.
func NewCatalogHandler(svc *catalog.Service) *CatalogHandler {
	return &CatalogHandler{svc: svc}
}

// CatalogService is the catalog service for Options.Services.
func CatalogService(svc *catalog.Service) Service {
	return NewService[catalogv1connect.CatalogServiceHandler](catalogv1connect.CatalogServiceName,
		catalogv1connect.NewCatalogServiceHandler, NewCatalogHandler(svc))
}

// CreateBook implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) CreateBook(ctx context.Context, req *connect.Request[catalogv1.CreateBookRequest]) (*connect.Response[catalogv1.CreateBookResponse], error) {
	var v failure.Violations
	fields := bookFieldsFromProto(req.Msg.GetBook(), &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	b, err := h.svc.CreateBook(ctx, fields)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreateBookResponse{Book: bookToProto(b)}), nil
}

// GetBook implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) GetBook(ctx context.Context, req *connect.Request[catalogv1.GetBookRequest]) (*connect.Response[catalogv1.GetBookResponse], error) {
	b, err := h.svc.GetBook(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetBookResponse{Book: bookToProto(b)}), nil
}

// ListSimilarBooks implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) ListSimilarBooks(ctx context.Context, req *connect.Request[catalogv1.ListSimilarBooksRequest]) (*connect.Response[catalogv1.ListSimilarBooksResponse], error) {
	page, err := h.svc.ListSimilarBooks(ctx, req.Msg.GetId(), int(req.Msg.GetPageSize()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListSimilarBooksResponse{Books: booksToProto(page.Books),
		Fallback: page.Fallback != "", FallbackReason: page.Fallback}), nil
}

// BatchGetBooks implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) BatchGetBooks(ctx context.Context, req *connect.Request[catalogv1.BatchGetBooksRequest]) (*connect.Response[catalogv1.BatchGetBooksResponse], error) {
	bs, err := h.svc.BatchGetBooks(ctx, req.Msg.GetIds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.BatchGetBooksResponse{Books: booksToProto(bs)}), nil
}

// ListBooks implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) ListBooks(ctx context.Context, req *connect.Request[catalogv1.ListBooksRequest]) (*connect.Response[catalogv1.ListBooksResponse], error) {
	var v failure.Violations
	q := catalog.ListBooksQuery{
		Filter:     filterFromProto(req.Msg.GetFilter(), &v),
		Descending: req.Msg.GetDescending(),
		PageSize:   int(req.Msg.GetPageSize()),
		PageToken:  req.Msg.GetPageToken(),
	}
	order, ok := bookOrders[req.Msg.GetOrderBy()]
	if !ok {
		v.Add("order_by", "unknown order")
	}
	q.Order = order
	if err := v.Err(); err != nil {
		return nil, err
	}
	page, err := h.svc.ListBooks(ctx, q)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListBooksResponse{Books: booksToProto(page.Books), NextPageToken: page.NextPageToken}), nil
}

// searchModes maps the contract's search modes to the core's.
var searchModes = map[catalogv1.SearchMode]catalog.SearchMode{
	catalogv1.SearchMode_SEARCH_MODE_UNSPECIFIED: catalog.SearchAuto,
	catalogv1.SearchMode_SEARCH_MODE_LEXICAL:     catalog.SearchLexical,
	catalogv1.SearchMode_SEARCH_MODE_SEMANTIC:    catalog.SearchSemantic,
	catalogv1.SearchMode_SEARCH_MODE_HYBRID:      catalog.SearchHybrid,
}

// SearchBooks implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) SearchBooks(ctx context.Context, req *connect.Request[catalogv1.SearchBooksRequest]) (*connect.Response[catalogv1.SearchBooksResponse], error) {
	var v failure.Violations
	q := catalog.SearchBooksQuery{
		Query:     req.Msg.GetQuery(),
		Filter:    filterFromProto(req.Msg.GetFilter(), &v),
		PageSize:  int(req.Msg.GetPageSize()),
		PageToken: req.Msg.GetPageToken(),
		Mode:      searchModes[req.Msg.GetMode()],
	}
	if _, ok := searchModes[req.Msg.GetMode()]; !ok {
		v.Add("mode", "unknown search mode")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	page, err := h.svc.SearchBooks(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.SearchBooksResponse{NextPageToken: page.NextPageToken, Degraded: page.Degraded != "", DegradedReason: page.Degraded}
	for pm, m := range searchModes {
		if m == page.Mode && pm != catalogv1.SearchMode_SEARCH_MODE_UNSPECIFIED {
			out.Mode = pm
		}
	}
	out.Results = make([]*catalogv1.SearchBooksResult, len(page.Hits))
	for i, hit := range page.Hits {
		out.Results[i] = &catalogv1.SearchBooksResult{Book: bookToProto(hit.Book), Relevance: hit.Relevance}
	}
	return connect.NewResponse(out), nil
}

// UpdateBook implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) UpdateBook(ctx context.Context, req *connect.Request[catalogv1.UpdateBookRequest]) (*connect.Response[catalogv1.UpdateBookResponse], error) {
	paths := maskPaths(req.Msg.GetUpdateMask())
	in := req.Msg.GetBook()
	var v failure.Violations
	fields := bookFieldsFromProto(&catalogv1.BookInput{
		Title:         in.GetTitle(),
		Description:   in.GetDescription(),
		Isbn:          in.GetIsbn(),
		Price:         onlyIf(slices.Contains(paths, catalog.FieldPrice), in.GetPrice()),
		SalePrice:     onlyIf(slices.Contains(paths, catalog.FieldSalePrice), in.GetSalePrice()),
		StockQuantity: in.GetStockQuantity(),
		CategoryId:    in.GetCategoryId(),
		PublisherId:   in.GetPublisherId(),
		AuthorIds:     in.GetAuthorIds(),
		ImageUrl:      in.GetImageUrl(),
	}, &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	b, err := h.svc.UpdateBook(ctx, req.Msg.GetId(), req.Msg.GetEtag(), fields, paths)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdateBookResponse{Book: bookToProto(b)}), nil
}

// onlyIf returns v when cond holds and the zero value otherwise: money fields
// outside an update mask are not looked at, even when malformed.
func onlyIf[T any](cond bool, v T) T {
	if cond {
		return v
	}
	var zero T
	return zero
}

// DeleteBook implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) DeleteBook(ctx context.Context, req *connect.Request[catalogv1.DeleteBookRequest]) (*connect.Response[catalogv1.DeleteBookResponse], error) {
	if err := h.svc.DeleteBook(ctx, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteBookResponse{}), nil
}

// CreateAuthor implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) CreateAuthor(ctx context.Context, req *connect.Request[catalogv1.CreateAuthorRequest]) (*connect.Response[catalogv1.CreateAuthorResponse], error) {
	in := req.Msg.GetAuthor()
	e, err := h.svc.CreateEntity(ctx, catalog.AuthorKind, catalog.EntityFields{Name: in.GetName(), Text: in.GetBiography()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreateAuthorResponse{Author: authorToProto(e)}), nil
}

// GetAuthor implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) GetAuthor(ctx context.Context, req *connect.Request[catalogv1.GetAuthorRequest]) (*connect.Response[catalogv1.GetAuthorResponse], error) {
	e, err := h.svc.GetEntity(ctx, catalog.AuthorKind, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetAuthorResponse{Author: authorToProto(e)}), nil
}

// ListAuthors implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) ListAuthors(ctx context.Context, req *connect.Request[catalogv1.ListAuthorsRequest]) (*connect.Response[catalogv1.ListAuthorsResponse], error) {
	page, err := h.svc.ListEntities(ctx, catalog.AuthorKind, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListAuthorsResponse{Authors: mapEntities(page.Entities, authorToProto), NextPageToken: page.NextPageToken}), nil
}

// UpdateAuthor implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) UpdateAuthor(ctx context.Context, req *connect.Request[catalogv1.UpdateAuthorRequest]) (*connect.Response[catalogv1.UpdateAuthorResponse], error) {
	in := req.Msg.GetAuthor()
	e, err := h.svc.UpdateEntity(ctx, catalog.AuthorKind, req.Msg.GetId(), req.Msg.GetEtag(),
		catalog.EntityFields{Name: in.GetName(), Text: in.GetBiography()}, maskPaths(req.Msg.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdateAuthorResponse{Author: authorToProto(e)}), nil
}

// DeleteAuthor implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) DeleteAuthor(ctx context.Context, req *connect.Request[catalogv1.DeleteAuthorRequest]) (*connect.Response[catalogv1.DeleteAuthorResponse], error) {
	if err := h.svc.DeleteEntity(ctx, catalog.AuthorKind, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteAuthorResponse{}), nil
}

// CreateCategory implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) CreateCategory(ctx context.Context, req *connect.Request[catalogv1.CreateCategoryRequest]) (*connect.Response[catalogv1.CreateCategoryResponse], error) {
	in := req.Msg.GetCategory()
	e, err := h.svc.CreateEntity(ctx, catalog.CategoryKind, catalog.EntityFields{Name: in.GetName(), Text: in.GetDescription()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreateCategoryResponse{Category: categoryToProto(e)}), nil
}

// GetCategory implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) GetCategory(ctx context.Context, req *connect.Request[catalogv1.GetCategoryRequest]) (*connect.Response[catalogv1.GetCategoryResponse], error) {
	e, err := h.svc.GetEntity(ctx, catalog.CategoryKind, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetCategoryResponse{Category: categoryToProto(e)}), nil
}

// ListCategories implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) ListCategories(ctx context.Context, req *connect.Request[catalogv1.ListCategoriesRequest]) (*connect.Response[catalogv1.ListCategoriesResponse], error) {
	page, err := h.svc.ListEntities(ctx, catalog.CategoryKind, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListCategoriesResponse{Categories: mapEntities(page.Entities, categoryToProto), NextPageToken: page.NextPageToken}), nil
}

// UpdateCategory implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) UpdateCategory(ctx context.Context, req *connect.Request[catalogv1.UpdateCategoryRequest]) (*connect.Response[catalogv1.UpdateCategoryResponse], error) {
	in := req.Msg.GetCategory()
	e, err := h.svc.UpdateEntity(ctx, catalog.CategoryKind, req.Msg.GetId(), req.Msg.GetEtag(),
		catalog.EntityFields{Name: in.GetName(), Text: in.GetDescription()}, maskPaths(req.Msg.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdateCategoryResponse{Category: categoryToProto(e)}), nil
}

// DeleteCategory implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) DeleteCategory(ctx context.Context, req *connect.Request[catalogv1.DeleteCategoryRequest]) (*connect.Response[catalogv1.DeleteCategoryResponse], error) {
	if err := h.svc.DeleteEntity(ctx, catalog.CategoryKind, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeleteCategoryResponse{}), nil
}

// CreatePublisher implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) CreatePublisher(ctx context.Context, req *connect.Request[catalogv1.CreatePublisherRequest]) (*connect.Response[catalogv1.CreatePublisherResponse], error) {
	e, err := h.svc.CreateEntity(ctx, catalog.PublisherKind, catalog.EntityFields{Name: req.Msg.GetPublisher().GetName()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreatePublisherResponse{Publisher: publisherToProto(e)}), nil
}

// GetPublisher implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) GetPublisher(ctx context.Context, req *connect.Request[catalogv1.GetPublisherRequest]) (*connect.Response[catalogv1.GetPublisherResponse], error) {
	e, err := h.svc.GetEntity(ctx, catalog.PublisherKind, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetPublisherResponse{Publisher: publisherToProto(e)}), nil
}

// ListPublishers implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) ListPublishers(ctx context.Context, req *connect.Request[catalogv1.ListPublishersRequest]) (*connect.Response[catalogv1.ListPublishersResponse], error) {
	page, err := h.svc.ListEntities(ctx, catalog.PublisherKind, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.ListPublishersResponse{Publishers: mapEntities(page.Entities, publisherToProto), NextPageToken: page.NextPageToken}), nil
}

// UpdatePublisher implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) UpdatePublisher(ctx context.Context, req *connect.Request[catalogv1.UpdatePublisherRequest]) (*connect.Response[catalogv1.UpdatePublisherResponse], error) {
	e, err := h.svc.UpdateEntity(ctx, catalog.PublisherKind, req.Msg.GetId(), req.Msg.GetEtag(),
		catalog.EntityFields{Name: req.Msg.GetPublisher().GetName()}, maskPaths(req.Msg.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.UpdatePublisherResponse{Publisher: publisherToProto(e)}), nil
}

// DeletePublisher implements catalogv1connect.CatalogServiceHandler.
func (h *CatalogHandler) DeletePublisher(ctx context.Context, req *connect.Request[catalogv1.DeletePublisherRequest]) (*connect.Response[catalogv1.DeletePublisherResponse], error) {
	if err := h.svc.DeleteEntity(ctx, catalog.PublisherKind, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.DeletePublisherResponse{}), nil
}
