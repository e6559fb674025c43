package orderingstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// Channel is the LISTEN/NOTIFY channel on which every committed change of
// an order is announced, with the payload "<order id>:<version>" (Feed
// listens on it).
const Channel = "bookworm_ordering"

// Orders is ordering.OrderStore on PostgreSQL. Every write commits, in one
// transaction sent as one batch, the order, the new entries of its history
// and the events of the change in the outbox; then it notifies Channel (and
// the relays) in a statement of its own.
type Orders struct {
	db postgres.DB
}

var _ ordering.OrderStore = (*Orders)(nil)

// NewOrders returns the order store of db: a pool, or a transaction whose
// commit the store's writes then join.
func NewOrders(db postgres.DB) *Orders { return &Orders{db: db} }

// errTable translates the driver errors of the order store.
var errTable = postgres.ErrorTable{Store: "ordering"}

// selectOrders reads orders with their history and revision, in one
// statement (so from one snapshot): add the WHERE clause. The history
// comes as one array per column, oldest entry first.
const selectOrders = `SELECT o.id::text, o.user_id, o.request_id, o.status, o.version, o.create_time, o.update_time,
	o.deadline, o.data, o.revision, h.versions, h.times, h.kinds, h.actors, h.froms, h.tos, h.reasons
	FROM ordering.orders o CROSS JOIN LATERAL (
		SELECT coalesce(array_agg(version ORDER BY version), '{}') AS versions,
			coalesce(array_agg(occur_time ORDER BY version), '{}') AS times,
			coalesce(array_agg(actor_kind ORDER BY version), '{}') AS kinds,
			coalesce(array_agg(actor_id ORDER BY version), '{}') AS actors,
			coalesce(array_agg(from_status ORDER BY version), '{}') AS froms,
			coalesce(array_agg(to_status ORDER BY version), '{}') AS tos,
			coalesce(array_agg(reason ORDER BY version), '{}') AS reasons
		FROM ordering.history WHERE order_id = o.id) h`

// Create implements ordering.OrderStore: the unique key (user_id,
// request_id) lets one of racing Creates insert; the others find its order.
func (s *Orders) Create(ctx context.Context, o *ordering.Order, evs []ordering.Event) (*ordering.Order, bool, error) {
	snap := o.Snapshot()
	doc, err := encodeDocument(snap)
	if err != nil {
		return nil, false, err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO ordering.orders (id, user_id, request_id, status, version, create_time,
		update_time, deadline, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (user_id, request_id) DO NOTHING`,
		snap.ID, snap.Buyer.UserID, snap.RequestID, int16(snap.Status), snap.Version, snap.CreatedAt, snap.UpdatedAt,
		nullTime(snap.Deadline), doc)
	if err := queueWrite(ctx, b, snap.ID, snap.Version, snap.History, 0, evs); err != nil {
		return nil, false, err
	}
	// One round trip for the whole write. When the order row was not
	// inserted (a racing request with the same id won), everything queued
	// after it is rolled back with the transaction.
	created := false
	err = outbox.WriteThenNotify(ctx, s.db, func(tx pgx.Tx) error {
		return sendWrite(ctx, tx, b, func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return errNotCreated
			}
			created = true
			return nil
		})
	}, notes(snap.ID, snap.Version, evs)...)
	if errors.Is(err, errNotCreated) {
		err = nil
	}
	if err != nil {
		return nil, false, errTable.Translate(ctx, err, "order "+snap.ID)
	}
	if created {
		return o, true, nil
	}
	stored, err := s.FindByRequest(ctx, snap.Buyer.UserID, snap.RequestID)
	return stored, false, err
}

// errNotCreated rolls back a Create whose order row a racing Create with
// the same request id inserted first.
var errNotCreated = errors.New("ordering store: the request's order exists")

// queueWrite queues on b, after the statement that writes the order row,
// the rest of a change: the history entries after version after and the
// change's events in the outbox.
func queueWrite(ctx context.Context, b *pgx.Batch, id string, version int64, h []ordering.HistoryEntry, after int64, evs []ordering.Event) error {
	var (
		versions       []int64
		times          []time.Time
		kinds, fs, ts  []int16
		actors, reason []string
	)
	for _, e := range h {
		if e.Version <= after {
			continue
		}
		versions, times = append(versions, e.Version), append(times, e.At)
		kinds, actors = append(kinds, int16(e.Actor.Kind)), append(actors, e.Actor.ID)
		fs, ts, reason = append(fs, int16(e.From)), append(ts, int16(e.To)), append(reason, e.Reason)
	}
	if len(versions) > 0 {
		b.Queue(`INSERT INTO ordering.history (order_id, version, occur_time, actor_kind, actor_id, from_status, to_status, reason)
			SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::smallint[], $5::text[], $6::smallint[], $7::smallint[], $8::text[])`,
			id, versions, times, kinds, actors, fs, ts, reason)
	}
	return enqueue(ctx, b, evs)
}

// notes are the notifications of a committed change: to watchers on
// Channel, and to the relays when it enqueued events. They go out after
// the commit (outbox.WriteThenNotify says why); Feed reloads its watchers
// periodically should one be lost.
func notes(id string, version int64, evs []ordering.Event) []outbox.Note {
	ns := []outbox.Note{{Channel: Channel, Payload: id + ":" + strconv.FormatInt(version, 10)}}
	if len(evs) > 0 {
		ns = append(ns, outbox.RelayNote)
	}
	return ns
}

// sendWrite sends the batch of a change in tx and reads every result;
// check judges the first statement's, the write of the order row, and its
// error ends the write.
func sendWrite(ctx context.Context, tx pgx.Tx, b *pgx.Batch, check func(pgconn.CommandTag) error) error {
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	tag, err := res.Exec()
	if err != nil {
		return err
	}
	if err := check(tag); err != nil {
		return err
	}
	for range b.Len() - 1 {
		if _, err := res.Exec(); err != nil {
			return err
		}
	}
	return res.Close()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// scanOrder reads one row of selectOrders: the order's snapshot, history
// included, and its revision.
func scanOrder(row pgx.Row) (ordering.Snapshot, int64, error) {
	var (
		s                 ordering.Snapshot
		status            int16
		deadline          *time.Time
		doc               []byte
		revision          int64
		versions          []int64
		times             []time.Time
		kinds, froms, tos []int16
		actors, reasons   []string
	)
	if err := row.Scan(&s.ID, &s.Buyer.UserID, &s.RequestID, &status, &s.Version, &s.CreatedAt, &s.UpdatedAt, &deadline, &doc,
		&revision, &versions, &times, &kinds, &actors, &froms, &tos, &reasons); err != nil {
		return s, 0, err
	}
	s.Status = ordering.Status(status)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	if deadline != nil {
		s.Deadline = deadline.UTC()
	}
	n := len(versions)
	if len(times) != n || len(kinds) != n || len(actors) != n || len(froms) != n || len(tos) != n || len(reasons) != n {
		return s, 0, fmt.Errorf("ordering store: order %s: history columns of unequal length", s.ID)
	}
	for i := range n {
		s.History = append(s.History, ordering.HistoryEntry{Version: versions[i], At: times[i].UTC(),
			Actor: ordering.Actor{Kind: ordering.ActorKind(kinds[i]), ID: actors[i]},
			From:  ordering.Status(froms[i]), To: ordering.Status(tos[i]), Reason: reasons[i]})
	}
	return s, revision, decodeDocument(doc, &s)
}

// scanOrders reads the orders of rows of selectOrders.
func scanOrders(rows pgx.Rows) ([]*ordering.Order, error) {
	snaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ordering.Snapshot, error) {
		s, _, err := scanOrder(row)
		return s, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ordering.Order, 0, len(snaps))
	for _, s := range snaps {
		o, err := ordering.Restore(s)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// getOne reads the order the query (selectOrders and a WHERE clause)
// selects, and its revision.
func getOne(ctx context.Context, q postgres.Querier, subject, sql string, args ...any) (*ordering.Order, int64, error) {
	snap, revision, err := scanOrder(q.QueryRow(ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, failure.NotFound("%s not found", subject)
	}
	if err != nil {
		return nil, 0, err
	}
	o, err := ordering.Restore(snap)
	if err != nil {
		return nil, 0, err
	}
	return o, revision, nil
}

// Get implements ordering.OrderStore.
func (s *Orders) Get(ctx context.Context, id string) (*ordering.Order, error) {
	if !coreid.Valid(id) {
		return nil, failure.NotFound("order %s not found", id)
	}
	o, _, err := getOne(ctx, s.db, "order "+id, selectOrders+` WHERE o.id = $1`, id)
	return o, errTable.Translate(ctx, err, "order "+id)
}

// FindByRequest implements ordering.OrderStore.
func (s *Orders) FindByRequest(ctx context.Context, userID, requestID string) (*ordering.Order, error) {
	o, _, err := getOne(ctx, s.db, "order of request "+requestID,
		selectOrders+` WHERE o.user_id = $1 AND o.request_id = $2`, userID, requestID)
	return o, errTable.Translate(ctx, err, "order of request "+requestID)
}

// Update implements ordering.OrderStore with optimistic concurrency: the
// order is read without a lock and written only if its version is still the
// one read, so a concurrent change makes this one failure.ErrConflict.
func (s *Orders) Update(ctx context.Context, id string, update func(*ordering.Order) ([]ordering.Event, error)) (*ordering.Order, error) {
	if !coreid.Valid(id) {
		return nil, failure.NotFound("order %s not found", id)
	}
	// One statement reads the row, its revision and the history.
	o, revision, err := getOne(ctx, s.db, "order "+id, selectOrders+` WHERE o.id = $1`, id)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "order "+id)
	}
	before := o.Snapshot()
	evs, err := update(o)
	if err != nil {
		return nil, err // as the closure returned it
	}
	after := o.Snapshot()
	if after.Version == before.Version && len(evs) == 0 && sameDocument(before, after) {
		return o, nil
	}
	doc, err := encodeDocument(after)
	if err != nil {
		return nil, err
	}
	// The row must still be the one read (revision and version); the rest
	// of the change goes in the same round trip.
	b := &pgx.Batch{}
	b.Queue(`UPDATE ordering.orders SET status = $3, version = $4, update_time = $5, deadline = $6,
		data = $7, revision = revision + 1 WHERE id = $1 AND revision = $2 AND version = $8`,
		id, revision, int16(after.Status), after.Version, after.UpdatedAt, nullTime(after.Deadline), doc, before.Version)
	if err := queueWrite(ctx, b, id, after.Version, after.History, before.Version, evs); err != nil {
		return nil, err
	}
	err = outbox.WriteThenNotify(ctx, s.db, func(tx pgx.Tx) error {
		return sendWrite(ctx, tx, b, func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return failure.Conflict("order %s was changed concurrently; read it again and retry", id)
			}
			return nil
		})
	}, notes(id, after.Version, evs)...)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "order "+id)
	}
	return o, nil
}

// sameDocument reports whether an update left every stored field as it was
// (a no-op transition, a late answer already applied).
func sameDocument(a, b ordering.Snapshot) bool {
	da, err1 := encodeDocument(a)
	db, err2 := encodeDocument(b)
	return err1 == nil && err2 == nil && string(da) == string(db) && a.Deadline.Equal(b.Deadline) && a.Status == b.Status
}

// orderCursor is the keyset position of a page of orders.
type orderCursor struct {
	Query uint64 `json:"q"`
	Time  int64  `json:"t"`
	ID    string `json:"i"`
}

func (c orderCursor) encode() string { return postgres.EncodeToken(c) }

// decodeOrderCursor reads a page token of the query with fingerprint query;
// ok is false for the first page.
func decodeOrderCursor(token string, query uint64) (orderCursor, bool, error) {
	if token == "" {
		return orderCursor{}, false, nil
	}
	var c orderCursor
	if err := postgres.DecodeToken(token, &c); err != nil {
		return orderCursor{}, false, err
	}
	if c.Query != query || !coreid.Valid(c.ID) || c.Time > postgres.MaxTokenKey || c.Time < -postgres.MaxTokenKey {
		return orderCursor{}, false, postgres.ErrPageToken
	}
	return c, true, nil
}

// List implements ordering.OrderStore: newest first by creation time, then
// id, with a keyset cursor bound to the query's filters.
func (s *Orders) List(ctx context.Context, q ordering.ListQuery) (ordering.Page, error) {
	fp := postgres.NewFingerprint("orders")
	statuses := make([]int16, 0, len(q.Statuses))
	names := make([]string, 0, len(q.Statuses))
	for _, st := range q.Statuses {
		statuses = append(statuses, int16(st))
		names = append(names, st.String())
	}
	fp.Add(q.UserID, strings.Join(names, ","), timeKey(q.CreatedFrom), timeKey(q.CreatedBefore))
	cur, after, err := decodeOrderCursor(q.PageToken, fp.Sum())
	if err != nil {
		return ordering.Page{}, err
	}
	size := q.PageSize
	if size <= 0 {
		size = ordering.DefaultPageSize
	}
	var args postgres.Args
	where := []string{"true"}
	if q.UserID != "" {
		where = append(where, "o.user_id = "+args.Add(q.UserID))
	}
	if len(statuses) > 0 {
		where = append(where, "o.status = ANY("+args.Add(statuses)+"::smallint[])")
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, "o.create_time >= "+args.Add(q.CreatedFrom.UTC()))
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "o.create_time < "+args.Add(q.CreatedBefore.UTC()))
	}
	if after {
		t := time.UnixMicro(cur.Time).UTC()
		where = append(where, "(o.create_time, o.id) < ("+args.Add(t)+", "+args.Add(cur.ID)+"::uuid)")
	}
	sql := selectOrders + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY o.create_time DESC, o.id DESC LIMIT ` + args.Add(size+1)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return ordering.Page{}, errTable.Translate(ctx, err, "orders")
	}
	orders, err := scanOrders(rows)
	if err != nil {
		return ordering.Page{}, errTable.Translate(ctx, err, "orders")
	}
	page := ordering.Page{Orders: orders}
	if len(orders) > size {
		page.Orders = orders[:size]
		last := orders[size-1]
		page.NextPageToken = orderCursor{Query: fp.Sum(), Time: last.CreatedAt().UnixMicro(), ID: last.ID()}.encode()
	}
	return page, nil
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// Due implements ordering.OrderStore.
func (s *Orders) Due(ctx context.Context, now time.Time, limit int) ([]*ordering.Order, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, selectOrders+`
		WHERE o.deadline IS NOT NULL AND o.deadline <= $1 ORDER BY o.deadline LIMIT $2`, now.UTC(), limit)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "due orders")
	}
	out, err := scanOrders(rows)
	return out, errTable.Translate(ctx, err, "due orders")
}
