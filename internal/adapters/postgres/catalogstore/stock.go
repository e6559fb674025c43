package catalogstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/catalog/stock"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// Stock is stock.Store on PostgreSQL: the counts are columns of
// catalog.books (stock is the available count, stock_reserved and
// stock_sold beside it), each order's reservation a row of
// catalog.stock_reservations. One Update is one transaction (part of the
// consumer's inbox transaction when db is one) that holds an advisory
// lock on the order and the row lock of every book it names, taken in book
// id order, so that concurrent orders of one book take turns and two orders
// never deadlock. It takes three round trips: the order's lock with its
// reservation, the books' locks, and every write of the step.
type Stock struct {
	db postgres.DB
}

var _ stock.Store = (*Stock)(nil)

// NewStock returns the stock store of db (a pool or a transaction).
func NewStock(db postgres.DB) *Stock { return &Stock{db: db} }

// notifyBookSQL announces a book's change on CatalogChannel, as
// NotifyBookChanged does, as a statement of a batch.
const notifyBookSQL = `SELECT pg_notify($1, $2)`

type stockLineJSON struct {
	BookID   string `json:"book_id"`
	Quantity int64  `json:"quantity"`
}

// Update implements stock.Store.
func (s *Stock) Update(ctx context.Context, orderID string, bookIDs []string, fn func(*stock.Ledger) (stock.Event, error)) error {
	if !coreid.Valid(orderID) {
		return fmt.Errorf("stock store: order id %q is not a UUID", orderID)
	}
	var fnErr error
	update := func(tx pgx.Tx) error {
		// One order's steps take turns (a first Reserve has no row to lock);
		// the lock and the reservation's read go in one round trip.
		r, stored, err := lockReservation(ctx, tx, orderID)
		if err != nil {
			return err
		}
		ids := slices.Clone(bookIDs)
		ids = append(ids, stock.BookIDs(r.Lines())...)
		ids = slices.DeleteFunc(ids, func(id string) bool { return !coreid.Valid(id) }) // unknown to the catalog
		slices.Sort(ids)
		ids = slices.Compact(ids)
		items, err := lockItems(ctx, tx, ids)
		if err != nil {
			return err
		}
		before := map[string]stock.Item{}
		for id, it := range items {
			before[id] = *it
		}
		version := r.Version()
		l := &stock.Ledger{Reservation: r, Items: items}
		ev, err := fn(l)
		if err != nil {
			fnErr = err
			return err
		}
		// Every write of the step in one round trip.
		b := &pgx.Batch{}
		for _, id := range ids {
			it, ok := items[id]
			if !ok || *it == before[id] {
				continue
			}
			b.Queue(`UPDATE catalog.books SET stock = $2, stock_reserved = $3, stock_sold = $4 WHERE id = $1`,
				id, it.Available(), it.Reserved(), it.Sold())
			b.Queue(notifyBookSQL, CatalogChannel, id)
		}
		if !stored || l.Reservation.Version() != version {
			if err := queueSaveReservation(b, l.Reservation, stored); err != nil {
				return err
			}
		}
		if ev != nil {
			m, err := stockMessage(ev)
			if err != nil {
				return err
			}
			if err := outbox.EnqueueBatch(ctx, b, CatalogSource, m); err != nil {
				return err
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	}
	var err error
	if tx, ok := s.db.(pgx.Tx); ok {
		// The caller's transaction (the consumer's inbox): no savepoint,
		// since nothing is written before fn has decided, and a failed
		// write fails the caller's transaction, which then rolls back. The
		// caller wakes the relays after its commit (HandleOnce does).
		err = update(tx)
	} else {
		err = outbox.WriteThenNotify(ctx, s.db, update, outbox.RelayNote)
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return errTable.Translate(ctx, err, "stock of order "+orderID)
	}
	return nil
}

// lockReservation takes the order's advisory lock and then reads its
// reservation, in one round trip.
func lockReservation(ctx context.Context, tx pgx.Tx, orderID string) (*stock.Reservation, bool, error) {
	var (
		state, reason int16
		version       int64
		linesJSON     []byte
		rejected      []string
		wasCommitted  bool
		lines         []stockLineJSON
		reservedLines []stock.Line
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('catalog.stock:' || $1, 0))`, orderID)
	b.Queue(`SELECT state, version, lines, reject_reason, rejected_book_ids, was_committed
		FROM catalog.stock_reservations WHERE order_id = $1`, orderID)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return nil, false, err
	}
	err := res.QueryRow().Scan(&state, &version, &linesJSON, &reason, &rejected, &wasCommitted)
	if errors.Is(err, pgx.ErrNoRows) {
		return stock.NewReservation(orderID), false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(linesJSON, &lines); err != nil {
		return nil, false, fmt.Errorf("stock store: reservation of order %s: %w", orderID, err)
	}
	for _, l := range lines {
		reservedLines = append(reservedLines, stock.Line{BookID: l.BookID, Quantity: l.Quantity})
	}
	return stock.LoadReservation(orderID, stock.State(state), version, reservedLines, stock.RejectReason(reason), rejected, wasCommitted), true, nil
}

// lockItems reads and locks the stock of the books with ids (sorted); the
// ORDER BY makes the locks come in id order.
func lockItems(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*stock.Item, error) {
	items := map[string]*stock.Item{}
	if len(ids) == 0 {
		return items, nil
	}
	rows, err := tx.Query(ctx, `SELECT id::text, stock, stock_reserved, stock_sold, delete_time IS NOT NULL
		FROM catalog.books WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var available, reserved, sold int32
		var deleted bool
		if err := rows.Scan(&id, &available, &reserved, &sold, &deleted); err != nil {
			return nil, err
		}
		it, err := stock.NewItem(id, int64(available), int64(reserved), int64(sold), deleted)
		if err != nil {
			return nil, err
		}
		items[id] = it
	}
	return items, rows.Err()
}

// queueSaveReservation queues the write of r on b.
func queueSaveReservation(b *pgx.Batch, r *stock.Reservation, stored bool) error {
	ls := []stockLineJSON{}
	for _, l := range r.Lines() {
		ls = append(ls, stockLineJSON{BookID: l.BookID, Quantity: l.Quantity})
	}
	lines, err := json.Marshal(ls)
	if err != nil {
		return err
	}
	rejected := r.RejectedBookIDs()
	if rejected == nil {
		rejected = []string{}
	}
	if !stored {
		b.Queue(`INSERT INTO catalog.stock_reservations (order_id, state, version, lines, reject_reason,
			rejected_book_ids, was_committed, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, now())`,
			r.OrderID(), int16(r.State()), r.Version(), lines, int16(r.RejectReason()), rejected, r.WasCommitted())
		return nil
	}
	b.Queue(`UPDATE catalog.stock_reservations SET state = $2, version = $3, lines = $4, reject_reason = $5,
		rejected_book_ids = $6, was_committed = $7, update_time = now() WHERE order_id = $1`,
		r.OrderID(), int16(r.State()), r.Version(), lines, int16(r.RejectReason()), rejected, r.WasCommitted())
	return nil
}

func stockLines(ls []stock.Line) []*catalogv1.StockLine {
	out := make([]*catalogv1.StockLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, &catalogv1.StockLine{BookId: l.BookID, Quantity: int32(l.Quantity)})
	}
	return out
}

var stockRejectReasons = map[stock.RejectReason]catalogv1.StockRejected_Reason{
	stock.RejectOutOfStock:  catalogv1.StockRejected_REASON_OUT_OF_STOCK,
	stock.RejectUnavailable: catalogv1.StockRejected_REASON_BOOK_UNAVAILABLE,
}

// stockMessage is the contract's message of one stock event.
func stockMessage(e stock.Event) (proto.Message, error) {
	switch e := e.(type) {
	case stock.Reserved:
		return &catalogv1.StockReserved{OrderId: e.OrderID, Version: e.Version, Lines: stockLines(e.Lines), OccurTime: timestamppb.New(e.At)}, nil
	case stock.Rejected:
		return &catalogv1.StockRejected{OrderId: e.OrderID, Version: e.Version, Reason: stockRejectReasons[e.Reason], BookIds: e.BookIDs, OccurTime: timestamppb.New(e.At)}, nil
	case stock.Committed:
		return &catalogv1.StockCommitted{OrderId: e.OrderID, Version: e.Version, Lines: stockLines(e.Lines), OccurTime: timestamppb.New(e.At)}, nil
	case stock.Released:
		return &catalogv1.StockReleased{OrderId: e.OrderID, Version: e.Version, Lines: stockLines(e.Lines), WasCommitted: e.WasCommitted, OccurTime: timestamppb.New(e.At)}, nil
	}
	return nil, fmt.Errorf("stock store: no message for the event %T", e)
}
