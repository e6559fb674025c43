package rpc

import (
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/protoconv"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// moneyFromProto converts an optional Money; nil is the zero Money. Problems
// are recorded under field.
func moneyFromProto(m *typev1.Money, field string, v *failure.Violations) money.Money {
	if m == nil {
		return money.Money{}
	}
	out, err := money.FromUnitsNanos(m.GetCurrencyCode(), m.GetUnits(), m.GetNanos())
	if err != nil {
		v.Add(field, err.Error())
	}
	return out
}

func bookFieldsFromProto(in *catalogv1.BookInput, v *failure.Violations) catalog.BookFields {
	return catalog.BookFields{
		Title:         in.GetTitle(),
		Description:   in.GetDescription(),
		ISBN:          in.GetIsbn(),
		Price:         moneyFromProto(in.GetPrice(), "book.price", v),
		SalePrice:     moneyFromProto(in.GetSalePrice(), "book.sale_price", v),
		StockQuantity: in.GetStockQuantity(),
		CategoryID:    in.GetCategoryId(),
		PublisherID:   in.GetPublisherId(),
		AuthorIDs:     in.GetAuthorIds(),
		ImageURL:      in.GetImageUrl(),
	}
}

func bookToProto(b *catalog.Book) *catalogv1.Book {
	r := b.Record()
	out := &catalogv1.Book{
		Id:             r.ID,
		Title:          r.Title,
		Description:    r.Description,
		Isbn:           r.ISBN,
		Price:          protoconv.Money(r.Price),
		SalePrice:      protoconv.Money(r.SalePrice),
		EffectivePrice: protoconv.Money(r.EffectivePrice()),
		StockQuantity:  r.StockQuantity,
		Availability:   catalogv1.Availability_AVAILABILITY_OUT_OF_STOCK,
		CategoryId:     r.CategoryID,
		PublisherId:    r.PublisherID,
		AuthorIds:      r.AuthorIDs,
		ImageUrl:       r.ImageURL,
		RatingAverage:  b.RatingAverage(),
		RatingCount:    r.RatingCount,
		CreateTime:     timestamppb.New(r.CreateTime),
		UpdateTime:     timestamppb.New(r.UpdateTime),
		Deleted:        b.Deleted(),
		CategoryName:   r.CategoryName,
		PublisherName:  r.PublisherName,
		AuthorNames:    r.AuthorNames,
		Etag:           b.Etag(),
	}
	if b.InStock() {
		out.Availability = catalogv1.Availability_AVAILABILITY_IN_STOCK
	}
	return out
}

func booksToProto(bs []*catalog.Book) []*catalogv1.Book {
	out := make([]*catalogv1.Book, len(bs))
	for i, b := range bs {
		out[i] = bookToProto(b)
	}
	return out
}

func filterFromProto(f *catalogv1.BookFilter, v *failure.Violations) catalog.BookFilter {
	if f == nil {
		return catalog.BookFilter{}
	}
	return catalog.BookFilter{
		CategoryIDs:  f.GetCategoryIds(),
		PublisherIDs: f.GetPublisherIds(),
		AuthorIDs:    f.GetAuthorIds(),
		MinPrice:     moneyFromProto(f.GetMinPrice(), "filter.min_price", v),
		MaxPrice:     moneyFromProto(f.GetMaxPrice(), "filter.max_price", v),
		InStockOnly:  f.GetInStockOnly(),
	}
}

var bookOrders = map[catalogv1.BookOrderField]catalog.BookOrder{
	catalogv1.BookOrderField_BOOK_ORDER_FIELD_UNSPECIFIED: catalog.OrderTitle,
	catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE:       catalog.OrderTitle,
	catalogv1.BookOrderField_BOOK_ORDER_FIELD_PRICE:       catalog.OrderPrice,
	catalogv1.BookOrderField_BOOK_ORDER_FIELD_CREATE_TIME: catalog.OrderCreateTime,
	catalogv1.BookOrderField_BOOK_ORDER_FIELD_RATING:      catalog.OrderRating,
}

// maskPaths returns the paths of an update mask; a missing mask is an
// empty one, which the core refuses.
func maskPaths(m *fieldmaskpb.FieldMask) []string {
	if m == nil {
		return nil
	}
	return m.GetPaths()
}

func entityToProtoTimes(r catalog.EntityRecord) (*timestamppb.Timestamp, *timestamppb.Timestamp) {
	return timestamppb.New(r.CreateTime), timestamppb.New(r.UpdateTime)
}

func authorToProto(e *catalog.Entity) *catalogv1.Author {
	r := e.Record()
	c, u := entityToProtoTimes(r)
	return &catalogv1.Author{Id: r.ID, Name: r.Name, Biography: r.Text, CreateTime: c, UpdateTime: u, Etag: e.Etag()}
}

func categoryToProto(e *catalog.Entity) *catalogv1.Category {
	r := e.Record()
	c, u := entityToProtoTimes(r)
	return &catalogv1.Category{Id: r.ID, Name: r.Name, Description: r.Text, CreateTime: c, UpdateTime: u, Etag: e.Etag()}
}

func publisherToProto(e *catalog.Entity) *catalogv1.Publisher {
	r := e.Record()
	c, u := entityToProtoTimes(r)
	return &catalogv1.Publisher{Id: r.ID, Name: r.Name, CreateTime: c, UpdateTime: u, Etag: e.Etag()}
}

func mapEntities[T any](es []*catalog.Entity, conv func(*catalog.Entity) T) []T {
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = conv(e)
	}
	return out
}
