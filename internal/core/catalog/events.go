package catalog

import (
	"slices"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Event is a domain event the catalog raises: what a change to a book tells
// the other contexts. The core decides which events a change raises (Book
// collects them as NewBook and Apply run, see Book.Events); adapters only
// serialize them to the contract's messages and enqueue them in the
// transaction that stores the change.
type Event interface{ catalogEvent() }

// BookCreated: a book was created. Book is its state as created.
type BookCreated struct{ Book BookRecord }

// BookUpdated: fields of a book changed. Changed names them as the
// contract's update mask does (FieldTitle, ..., and FieldEffectivePrice when
// the price it sells for moved); Book is its state after the change.
type BookUpdated struct {
	Book    BookRecord
	Changed []string
}

// BookPriceChanged: the list or sale price of a book changed (raised with
// BookUpdated). Book is its state after the change.
type BookPriceChanged struct {
	Book                   BookRecord
	PreviousEffectivePrice money.Money
}

// BookDeleted: a book was deleted at At, leaving Version.
type BookDeleted struct {
	BookID  string
	Title   string
	Version int64
	At      time.Time
}

func (BookCreated) catalogEvent()      {}
func (BookUpdated) catalogEvent()      {}
func (BookPriceChanged) catalogEvent() {}
func (BookDeleted) catalogEvent()      {}

// FieldEffectivePrice names, in BookUpdated.Changed, the price a book sells
// for (the sale price when set), which no client writes directly.
const FieldEffectivePrice = "effective_price"

// Events returns the events the book raised since NewBook made it or
// RestoreBook restored it, oldest first.
func (b *Book) Events() []Event { return slices.Clone(b.events) }

// updateEvents returns what a change from before to after raises:
// BookUpdated, and BookPriceChanged too when its list or sale price changed;
// nothing when no field changed.
func updateEvents(before, after BookRecord) []Event {
	var changed []string
	mark := func(field string, differ bool) {
		if differ {
			changed = append(changed, field)
		}
	}
	mark(FieldTitle, before.Title != after.Title)
	mark(FieldDescription, before.Description != after.Description)
	mark(FieldISBN, before.ISBN != after.ISBN)
	mark(FieldPrice, before.Price != after.Price)
	mark(FieldSalePrice, before.SalePrice != after.SalePrice)
	mark(FieldEffectivePrice, before.EffectivePrice() != after.EffectivePrice())
	mark(FieldStockQuantity, before.StockQuantity != after.StockQuantity)
	mark(FieldCategoryID, before.CategoryID != after.CategoryID)
	mark(FieldPublisherID, before.PublisherID != after.PublisherID)
	mark(FieldAuthorIDs, !slices.Equal(before.AuthorIDs, after.AuthorIDs))
	mark(FieldImageURL, before.ImageURL != after.ImageURL)
	if len(changed) == 0 {
		return nil
	}
	evs := []Event{BookUpdated{Book: after, Changed: changed}}
	if before.Price != after.Price || before.SalePrice != after.SalePrice {
		evs = append(evs, BookPriceChanged{Book: after, PreviousEffectivePrice: before.EffectivePrice()})
	}
	return evs
}
