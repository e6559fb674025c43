package catalogstore

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/protoconv"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// CatalogSource is the context part of the ce-source of the catalog's
// events ("bookworm://<deployment>/catalog", see outbox.Enqueue).
const CatalogSource = "catalog"

// eventMessages serializes the catalog's domain events (the core decides
// which a change raises) to the contract's messages, in order.
func eventMessages(evs []catalog.Event) ([]proto.Message, error) {
	out := make([]proto.Message, 0, len(evs))
	for _, e := range evs {
		m, err := eventMessage(e)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// eventMessage is the contract's message of one domain event.
func eventMessage(e catalog.Event) (proto.Message, error) {
	switch e := e.(type) {
	case catalog.BookCreated:
		r := e.Book
		return &catalogv1.BookCreated{
			BookId:         r.ID,
			Version:        r.Version,
			Title:          r.Title,
			Description:    r.Description,
			Isbn:           r.ISBN,
			Price:          protoconv.Money(r.Price),
			SalePrice:      protoconv.Money(r.SalePrice),
			EffectivePrice: protoconv.Money(r.EffectivePrice()),
			StockQuantity:  r.StockQuantity,
			CategoryId:     r.CategoryID,
			PublisherId:    r.PublisherID,
			AuthorIds:      slices.Clone(r.AuthorIDs),
			ImageUrl:       r.ImageURL,
			OccurTime:      timestamppb.New(r.CreateTime),
		}, nil
	case catalog.BookUpdated:
		r := e.Book
		return &catalogv1.BookUpdated{
			BookId:         r.ID,
			Version:        r.Version,
			UpdateMask:     &fieldmaskpb.FieldMask{Paths: slices.Clone(e.Changed)},
			Title:          r.Title,
			Description:    r.Description,
			Isbn:           r.ISBN,
			Price:          protoconv.Money(r.Price),
			SalePrice:      protoconv.Money(r.SalePrice),
			EffectivePrice: protoconv.Money(r.EffectivePrice()),
			StockQuantity:  r.StockQuantity,
			CategoryId:     r.CategoryID,
			PublisherId:    r.PublisherID,
			AuthorIds:      slices.Clone(r.AuthorIDs),
			ImageUrl:       r.ImageURL,
			OccurTime:      timestamppb.New(r.UpdateTime),
		}, nil
	case catalog.BookPriceChanged:
		r := e.Book
		return &catalogv1.BookPriceChanged{
			BookId:                 r.ID,
			Version:                r.Version,
			Title:                  r.Title,
			Price:                  protoconv.Money(r.Price),
			SalePrice:              protoconv.Money(r.SalePrice),
			EffectivePrice:         protoconv.Money(r.EffectivePrice()),
			PreviousEffectivePrice: protoconv.Money(e.PreviousEffectivePrice),
			OccurTime:              timestamppb.New(r.UpdateTime),
		}, nil
	case catalog.BookDeleted:
		return &catalogv1.BookDeleted{BookId: e.BookID, Version: e.Version, Title: e.Title, OccurTime: timestamppb.New(e.At)}, nil
	}
	return nil, fmt.Errorf("catalog store: no message for the event %T", e)
}
