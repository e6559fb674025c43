package catalogstore

import (
	"sync"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

type stockCounts struct{ available, reserved, sold int64 }

func readStock(t *testing.T, f *fixture, bookID string) stockCounts {
	t.Helper()
	var c stockCounts
	if err := f.pool.QueryRow(f.ctx, `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`, bookID).
		Scan(&c.available, &c.reserved, &c.sold); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStockOrdersNoOversell: 50 orders of one copy each race for the last 10
// copies; exactly 10 are reserved, the rest rejected, stock never negative,
// available + reserved + sold stays the stock loaded; a redelivered
// OrderPlaced answers again without reserving twice; confirming sells,
// failing releases.
func TestStockOrdersNoOversell(t *testing.T) {
	pool := pgtest.RolePool(t, pgtest.NewDatabase(t), "catalog", "events")
	f := newFixture(t, pool, NewBooks(pool))
	fields := f.fields("Last copies", f.category("Stock"), f.publisher("Stockist"), f.author("Ann Stock"))
	fields.StockQuantity = 10
	book := f.create(fields)
	c := NewStockOrders(pool, nil)

	placed := func(orderID string) events.Message {
		msg, err := events.NewProtoMessage("/bookworm/ordering", &orderingv1.OrderPlaced{OrderId: orderID,
			Lines: []*orderingv1.OrderLine{{BookId: book.ID(), Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	orders := make([]string, 50)
	msgs := make([]events.Message, 50)
	for i := range orders {
		orders[i] = coreid.New()
		msgs[i] = placed(orders[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Handle(f.ctx, msgs[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("handle: %v", err)
		}
	}
	if got := readStock(t, f, book.ID()); got != (stockCounts{0, 10, 0}) {
		t.Fatalf("stock after the race = %+v, want 0 available, 10 reserved", got)
	}
	reserved, rejected := map[string]bool{}, 0
	for _, e := range pgtest.Outbox(t, pool) {
		switch e.Type {
		case events.TypeOf(&catalogv1.StockReserved{}):
			var m catalogv1.StockReserved
			if err := events.Decode(e.Message, &m); err != nil {
				t.Fatal(err)
			}
			reserved[m.GetOrderId()] = true
		case events.TypeOf(&catalogv1.StockRejected{}):
			var m catalogv1.StockRejected
			if err := events.Decode(e.Message, &m); err != nil {
				t.Fatal(err)
			}
			if m.GetReason() != catalogv1.StockRejected_REASON_OUT_OF_STOCK || len(m.GetBookIds()) != 1 || m.GetBookIds()[0] != book.ID() {
				t.Fatalf("rejection %+v", &m)
			}
			rejected++
		}
	}
	if len(reserved) != 10 || rejected != 40 {
		t.Fatalf("%d reserved, %d rejected; want 10 and 40", len(reserved), rejected)
	}

	// A second OrderPlaced of a reserved order (the sweeper asks again, as
	// a new event): the same answer, nothing reserved twice.
	var first string
	for id := range reserved {
		first = id
		break
	}
	if err := c.Handle(f.ctx, placed(first)); err != nil {
		t.Fatal(err)
	}
	if got := readStock(t, f, book.ID()); got != (stockCounts{0, 10, 0}) {
		t.Fatalf("stock after a repeated OrderPlaced = %+v", got)
	}

	send := func(m interface{}) {
		t.Helper()
		var msg events.Message
		var err error
		switch m := m.(type) {
		case *orderingv1.OrderConfirmed:
			msg, err = events.NewProtoMessage("/bookworm/ordering", m)
		case *orderingv1.OrderFailed:
			msg, err = events.NewProtoMessage("/bookworm/ordering", m)
		case *orderingv1.OrderCancelled:
			msg, err = events.NewProtoMessage("/bookworm/ordering", m)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Handle(f.ctx, msg); err != nil {
			t.Fatal(err)
		}
		// Delivered twice: applied once (the inbox).
		if err := c.Handle(f.ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]string, 0, 10)
	for id := range reserved {
		ids = append(ids, id)
	}
	send(&orderingv1.OrderConfirmed{OrderId: ids[0]})
	send(&orderingv1.OrderConfirmed{OrderId: ids[1]})
	send(&orderingv1.OrderFailed{OrderId: ids[2], ReleaseStock: true})
	send(&orderingv1.OrderFailed{OrderId: ids[3], ReleaseStock: false})
	send(&orderingv1.OrderCancelled{OrderId: ids[1], ReleaseStock: true})
	if got := readStock(t, f, book.ID()); got != (stockCounts{2, 7, 1}) {
		t.Fatalf("stock after commits and releases = %+v, want 2 available, 7 reserved, 1 sold", got)
	}
	// A restock through the catalog adds to the available copies whatever
	// the saga moved meanwhile.
	if _, err := f.books.UpdateBook(f.ctx, book.ID(), func(b *catalog.Book) error {
		fl := catalog.BookFields{StockQuantity: b.Record().StockQuantity + 5}
		return b.Apply(fl, []string{catalog.FieldStockQuantity}, f.now())
	}); err != nil {
		t.Fatal(err)
	}
	if got := readStock(t, f, book.ID()); got != (stockCounts{7, 7, 1}) {
		t.Fatalf("stock after a restock of 5 = %+v", got)
	}
}
