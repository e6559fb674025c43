package orderingstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// Channel is the LISTEN/NOTIFY channel on which every committed change of
// an order is announced, with the payload "<order id>:<version>" (Feed
// listens on it).
const Channel = "bookworm_ordering"

// Orders is ordering.OrderStore on PostgreSQL. Every write commits, in one
// transaction, the order, the new entries of its history, the events of the
// change in the outbox and a notification on Channel.
type Orders struct {
	db postgres.DB
}

var _ ordering.OrderStore = (*Orders)(nil)

// NewOrders returns the order store of db: a pool, or a transaction whose
// commit the store's writes then join.
func NewOrders(db postgres.DB) *Orders { return &Orders{db: db} }

// errTable translates the driver errors of the order store.
var errTable = postgres.ErrorTable{Store: "ordering"}

const orderColumns = `id::text, user_id, request_id, status, version, create_time, update_time, deadline, data`

// Create implements ordering.OrderStore: the unique key (user_id,
// request_id) lets one of racing Creates insert; the others find its order.
func (s *Orders) Create(ctx context.Context, o *ordering.Order, evs []ordering.Event) (*ordering.Order, bool, error) {
	snap := o.Snapshot()
	doc, err := encodeDocument(snap)
	if err != nil {
		return nil, false, err
	}
	created := false
	err = postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO ordering.orders (id, user_id, request_id, status, version, create_time,
			update_time, deadline, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (user_id, request_id) DO NOTHING`,
			snap.ID, snap.Buyer.UserID, snap.RequestID, int16(snap.Status), snap.Version, snap.CreatedAt, snap.UpdatedAt,
			nullTime(snap.Deadline), doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		created = true
		if err := appendHistory(ctx, tx, snap.ID, snap.History, 0); err != nil {
			return err
		}
		return finishWrite(ctx, tx, snap.ID, snap.Version, evs)
	})
	if err != nil {
		return nil, false, errTable.Translate(ctx, err, "order "+snap.ID)
	}
	if created {
		return o, true, nil
	}
	stored, err := s.FindByRequest(ctx, snap.Buyer.UserID, snap.RequestID)
	return stored, false, err
}

// finishWrite enqueues the change's events and announces it to watchers.
func finishWrite(ctx context.Context, tx pgx.Tx, id string, version int64, evs []ordering.Event) error {
	if err := enqueue(ctx, tx, evs); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, id+":"+strconv.FormatInt(version, 10))
	return err
}

func appendHistory(ctx context.Context, tx pgx.Tx, orderID string, h []ordering.HistoryEntry, after int64) error {
	rows := [][]any{}
	for _, e := range h {
		if e.Version <= after {
			continue
		}
		rows = append(rows, []any{orderID, e.Version, e.At, int16(e.Actor.Kind), e.Actor.ID, int16(e.From), int16(e.To), e.Reason})
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"ordering", "history"},
		[]string{"order_id", "version", "occur_time", "actor_kind", "actor_id", "from_status", "to_status", "reason"},
		pgx.CopyFromRows(rows))
	return err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// scanOrder reads one row of orderColumns, without the history.
func scanOrder(row pgx.Row) (ordering.Snapshot, error) {
	var s ordering.Snapshot
	var status int16
	var deadline *time.Time
	var doc []byte
	if err := row.Scan(&s.ID, &s.Buyer.UserID, &s.RequestID, &status, &s.Version, &s.CreatedAt, &s.UpdatedAt, &deadline, &doc); err != nil {
		return s, err
	}
	s.Status = ordering.Status(status)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	if deadline != nil {
		s.Deadline = deadline.UTC()
	}
	return s, decodeDocument(doc, &s)
}

// loadHistory fills the history of the snapshots.
func loadHistory(ctx context.Context, q postgres.Querier, snaps []ordering.Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	ids := make([]string, len(snaps))
	at := map[string]int{}
	for i, s := range snaps {
		ids[i], at[s.ID] = s.ID, i
	}
	rows, err := q.Query(ctx, `SELECT order_id::text, version, occur_time, actor_kind, actor_id, from_status, to_status, reason
		FROM ordering.history WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, version`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e ordering.HistoryEntry
		var kind, from, to int16
		if err := rows.Scan(&id, &e.Version, &e.At, &kind, &e.Actor.ID, &from, &to, &e.Reason); err != nil {
			return err
		}
		e.At, e.Actor.Kind, e.From, e.To = e.At.UTC(), ordering.ActorKind(kind), ordering.Status(from), ordering.Status(to)
		snaps[at[id]].History = append(snaps[at[id]].History, e)
	}
	return rows.Err()
}

func restoreAll(ctx context.Context, q postgres.Querier, snaps []ordering.Snapshot) ([]*ordering.Order, error) {
	if err := loadHistory(ctx, q, snaps); err != nil {
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

// getOne reads the order the query selects (one row of orderColumns).
func getOne(ctx context.Context, q postgres.Querier, subject, sql string, args ...any) (*ordering.Order, error) {
	snap, err := scanOrder(q.QueryRow(ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, failure.NotFound("%s not found", subject)
	}
	if err != nil {
		return nil, err
	}
	os, err := restoreAll(ctx, q, []ordering.Snapshot{snap})
	if err != nil {
		return nil, err
	}
	return os[0], nil
}

// Get implements ordering.OrderStore.
func (s *Orders) Get(ctx context.Context, id string) (*ordering.Order, error) {
	if !coreid.Valid(id) {
		return nil, failure.NotFound("order %s not found", id)
	}
	o, err := getOne(ctx, s.db, "order "+id, `SELECT `+orderColumns+` FROM ordering.orders WHERE id = $1`, id)
	return o, errTable.Translate(ctx, err, "order "+id)
}

// FindByRequest implements ordering.OrderStore.
func (s *Orders) FindByRequest(ctx context.Context, userID, requestID string) (*ordering.Order, error) {
	o, err := getOne(ctx, s.db, "order of request "+requestID,
		`SELECT `+orderColumns+` FROM ordering.orders WHERE user_id = $1 AND request_id = $2`, userID, requestID)
	return o, errTable.Translate(ctx, err, "order of request "+requestID)
}

// Update implements ordering.OrderStore with optimistic concurrency: the
// order is read without a lock and written only if its version is still the
// one read, so a concurrent change makes this one failure.ErrConflict.
func (s *Orders) Update(ctx context.Context, id string, update func(*ordering.Order) ([]ordering.Event, error)) (*ordering.Order, error) {
	if !coreid.Valid(id) {
		return nil, failure.NotFound("order %s not found", id)
	}
	var revision int64
	if err := s.db.QueryRow(ctx, `SELECT revision FROM ordering.orders WHERE id = $1`, id).Scan(&revision); err != nil {
		return nil, errTable.Translate(ctx, err, "order "+id)
	}
	o, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
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
	err = postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		// The row must still be the one read: its revision is read before the
		// order, so a change between the two reads is caught too.
		tag, err := tx.Exec(ctx, `UPDATE ordering.orders SET status = $3, version = $4, update_time = $5, deadline = $6,
			data = $7, revision = revision + 1 WHERE id = $1 AND revision = $2 AND version = $8`,
			id, revision, int16(after.Status), after.Version, after.UpdatedAt, nullTime(after.Deadline), doc, before.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return failure.Conflict("order %s was changed concurrently; read it again and retry", id)
		}
		if err := appendHistory(ctx, tx, id, after.History, before.Version); err != nil {
			return err
		}
		return finishWrite(ctx, tx, id, after.Version, evs)
	})
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
		where = append(where, "user_id = "+args.Add(q.UserID))
	}
	if len(statuses) > 0 {
		where = append(where, "status = ANY("+args.Add(statuses)+"::smallint[])")
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, "create_time >= "+args.Add(q.CreatedFrom.UTC()))
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "create_time < "+args.Add(q.CreatedBefore.UTC()))
	}
	if after {
		t := time.UnixMicro(cur.Time).UTC()
		where = append(where, "(create_time, id) < ("+args.Add(t)+", "+args.Add(cur.ID)+"::uuid)")
	}
	sql := `SELECT ` + orderColumns + ` FROM ordering.orders WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY create_time DESC, id DESC LIMIT ` + args.Add(size+1)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return ordering.Page{}, errTable.Translate(ctx, err, "orders")
	}
	snaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ordering.Snapshot, error) { return scanOrder(row) })
	if err != nil {
		return ordering.Page{}, errTable.Translate(ctx, err, "orders")
	}
	var page ordering.Page
	if len(snaps) > size {
		snaps = snaps[:size]
		last := snaps[size-1]
		page.NextPageToken = orderCursor{Query: fp.Sum(), Time: last.CreatedAt.UnixMicro(), ID: last.ID}.encode()
	}
	if page.Orders, err = restoreAll(ctx, s.db, snaps); err != nil {
		return ordering.Page{}, errTable.Translate(ctx, err, "orders")
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
	rows, err := s.db.Query(ctx, `SELECT `+orderColumns+` FROM ordering.orders
		WHERE deadline IS NOT NULL AND deadline <= $1 ORDER BY deadline LIMIT $2`, now.UTC(), limit)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "due orders")
	}
	snaps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ordering.Snapshot, error) { return scanOrder(row) })
	if err != nil {
		return nil, errTable.Translate(ctx, err, "due orders")
	}
	out, err := restoreAll(ctx, s.db, snaps)
	return out, errTable.Translate(ctx, err, "due orders")
}
