package catalogstore

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/money"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// CatalogSource is the ce-source of the catalog's events.
const CatalogSource = "/bookworm/catalog"

// The catalog's events are made here, from the records the write
// transactions hold, so that the core stays free of generated code.

// eventMoney is the event form of m; nil for the zero Money (no sale price).
func eventMoney(m money.Money) *typev1.Money {
	if m.IsZero() {
		return nil
	}
	units, nanos := m.UnitsNanos()
	return &typev1.Money{CurrencyCode: m.Currency(), Units: units, Nanos: nanos}
}

// bookCreatedEvent announces a book as it was stored.
func bookCreatedEvent(r catalog.BookRecord) *catalogv1.BookCreated {
	return &catalogv1.BookCreated{
		BookId:         r.ID,
		Version:        r.Version,
		Title:          r.Title,
		Description:    r.Description,
		Isbn:           r.ISBN,
		Price:          eventMoney(r.Price),
		SalePrice:      eventMoney(r.SalePrice),
		EffectivePrice: eventMoney(r.EffectivePrice()),
		StockQuantity:  r.StockQuantity,
		CategoryId:     r.CategoryID,
		PublisherId:    r.PublisherID,
		AuthorIds:      slices.Clone(r.AuthorIDs),
		ImageUrl:       r.ImageURL,
		OccurTime:      timestamppb.New(r.CreateTime),
	}
}

// bookUpdatedEvents announces a change of a book from before to after:
// BookUpdated, and BookPriceChanged too when its list or sale price changed.
// It returns nothing when no field of BookUpdated changed.
func bookUpdatedEvents(before, after catalog.BookRecord) []proto.Message {
	var paths []string
	changed := func(path string, differ bool) {
		if differ {
			paths = append(paths, path)
		}
	}
	priceChanged := before.Price != after.Price || before.SalePrice != after.SalePrice
	changed("title", before.Title != after.Title)
	changed("description", before.Description != after.Description)
	changed("isbn", before.ISBN != after.ISBN)
	changed("price", before.Price != after.Price)
	changed("sale_price", before.SalePrice != after.SalePrice)
	changed("effective_price", before.EffectivePrice() != after.EffectivePrice())
	changed("stock_quantity", before.StockQuantity != after.StockQuantity)
	changed("category_id", before.CategoryID != after.CategoryID)
	changed("publisher_id", before.PublisherID != after.PublisherID)
	changed("author_ids", !slices.Equal(before.AuthorIDs, after.AuthorIDs))
	changed("image_url", before.ImageURL != after.ImageURL)
	if len(paths) == 0 {
		return nil
	}
	at := timestamppb.New(after.UpdateTime)
	events := []proto.Message{&catalogv1.BookUpdated{
		BookId:         after.ID,
		Version:        after.Version,
		UpdateMask:     &fieldmaskpb.FieldMask{Paths: paths},
		Title:          after.Title,
		Description:    after.Description,
		Isbn:           after.ISBN,
		Price:          eventMoney(after.Price),
		SalePrice:      eventMoney(after.SalePrice),
		EffectivePrice: eventMoney(after.EffectivePrice()),
		StockQuantity:  after.StockQuantity,
		CategoryId:     after.CategoryID,
		PublisherId:    after.PublisherID,
		AuthorIds:      slices.Clone(after.AuthorIDs),
		ImageUrl:       after.ImageURL,
		OccurTime:      at,
	}}
	if priceChanged {
		events = append(events, &catalogv1.BookPriceChanged{
			BookId:                 after.ID,
			Version:                after.Version,
			Title:                  after.Title,
			Price:                  eventMoney(after.Price),
			SalePrice:              eventMoney(after.SalePrice),
			EffectivePrice:         eventMoney(after.EffectivePrice()),
			PreviousEffectivePrice: eventMoney(before.EffectivePrice()),
			OccurTime:              at,
		})
	}
	return events
}

// bookDeletedEvent announces the deletion of a book.
func bookDeletedEvent(id, title string, version int64, at time.Time) *catalogv1.BookDeleted {
	return &catalogv1.BookDeleted{BookId: id, Version: version, Title: title, OccurTime: timestamppb.New(at)}
}
