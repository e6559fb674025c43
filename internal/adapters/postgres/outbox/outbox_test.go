package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// outboxRow is one row of the outbox as the tests read it.
type outboxRow struct {
	seq                     int64
	id, typ, source         string
	time                    time.Time
	traceparent, tracestate string
	contentType             string
	data                    []byte
	published               bool
}

// outboxRows returns every row of the outbox in insertion order.
func outboxRows(t testing.TB, pool *pgxpool.Pool) []outboxRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT seq, event_id::text, type, source, occur_time, traceparent,
		tracestate, content_type, data, published_at IS NOT NULL FROM events.outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var r outboxRow
		err := row.Scan(&r.seq, &r.id, &r.typ, &r.source, &r.time, &r.traceparent, &r.tracestate, &r.contentType,
			&r.data, &r.published)
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// enqueueIn runs Enqueue in a transaction of its own, committed unless
// rollback is set.
func enqueueIn(ctx context.Context, pool *pgxpool.Pool, rollback bool, events ...proto.Message) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := Enqueue(ctx, tx, "test", events...); err != nil {
		return err
	}
	if rollback {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}

func TestEnqueueWritesTheEnvelope(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	state, _ := trace.ParseTraceState("vendor=value")
	traced := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, TraceState: state,
	}))

	events := []proto.Message{
		&catalogv1.BookCreated{BookId: "b1", Version: 1, Title: "One"},
		&catalogv1.BookDeleted{BookId: "b2", Version: 3, Title: "Two"},
	}
	before := time.Now()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Enqueue(traced, tx, "catalog", events...); err != nil {
		t.Fatal(err)
	}
	if err := Enqueue(ctx, tx, "catalog"); err != nil { // nothing to write
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	deployment, err := Deployment(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rows := outboxRows(t, pool)
	if len(rows) != len(events) {
		t.Fatalf("%d rows, want %d", len(rows), len(events))
	}
	seen := map[string]bool{}
	for i, r := range rows {
		want := events[i]
		if name := string(want.ProtoReflect().Descriptor().FullName()); r.typ != name {
			t.Errorf("row %d: type %q, want %q", i, r.typ, name)
		}
		id, err := uuid.Parse(r.id)
		if err != nil || id.Version() != 7 {
			t.Errorf("row %d: id %q is not a UUIDv7 (%v)", i, r.id, err)
		}
		if seen[r.id] {
			t.Errorf("row %d: id %s used twice", i, r.id)
		}
		seen[r.id] = true
		if r.source != "bookworm://"+deployment+"/catalog" {
			t.Errorf("row %d: source %q", i, r.source)
		}
		if r.time.Before(before.Add(-time.Millisecond)) || r.time.After(after.Add(time.Millisecond)) {
			t.Errorf("row %d: time %v not between %v and %v", i, r.time, before, after)
		}
		if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; r.traceparent != want {
			t.Errorf("row %d: traceparent %q, want %q", i, r.traceparent, want)
		}
		if r.tracestate != "vendor=value" {
			t.Errorf("row %d: tracestate %q", i, r.tracestate)
		}
		if r.contentType != "application/protobuf" {
			t.Errorf("row %d: content type %q", i, r.contentType)
		}
		got := want.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(r.data, got); err != nil || !proto.Equal(got, want) {
			t.Errorf("row %d: data decodes to %v (%v), want %v", i, got, err, want)
		}
		if r.published {
			t.Errorf("row %d: published already", i)
		}
	}
}

func TestEnqueueWithoutTraceContext(t *testing.T) {
	pool := pgtest.NewPool(t)
	if err := enqueueIn(pgtest.Ctx(t), pool, false, &catalogv1.BookDeleted{BookId: "b"}); err != nil {
		t.Fatal(err)
	}
	rows := outboxRows(t, pool)
	if len(rows) != 1 || rows[0].traceparent != "" || rows[0].tracestate != "" {
		t.Fatalf("rows = %+v, want one without trace context", rows)
	}
}

func TestEnqueueRolledBackLeavesNoRow(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	if err := enqueueIn(ctx, pool, true, &catalogv1.BookDeleted{BookId: "gone"}); err != nil {
		t.Fatal(err)
	}
	// A failing statement after Enqueue aborts the whole transaction.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := Enqueue(ctx, tx, "test", &catalogv1.BookDeleted{BookId: "gone too"}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT 1/0`)
		return err
	})
	if err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := enqueueIn(ctx, pool, false, &catalogv1.BookDeleted{BookId: "kept"}); err != nil {
		t.Fatal(err)
	}
	rows := outboxRows(t, pool)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want only the committed one", len(rows))
	}
	var got catalogv1.BookDeleted
	if err := proto.Unmarshal(rows[0].data, &got); err != nil || got.GetBookId() != "kept" {
		t.Fatalf("row holds %v (%v), want the committed event", &got, err)
	}
}

func TestEnqueueRejects(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	tests := []struct {
		name   string
		source string
		events []proto.Message
	}{
		{"empty source", "", []proto.Message{&catalogv1.BookDeleted{}}},
		{"source with a slash", "bookworm/catalog", []proto.Message{&catalogv1.BookDeleted{}}},
		{"nil event", "test", []proto.Message{&catalogv1.BookDeleted{}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return Enqueue(ctx, tx, tt.source, tt.events...) })
			if err == nil {
				t.Fatal("Enqueue succeeded")
			}
		})
	}
	if rows := outboxRows(t, pool); len(rows) != 0 {
		t.Fatalf("%d rows written by rejected calls", len(rows))
	}
}

func TestEnqueueNotifiesOnCommit(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		t.Fatal(err)
	}
	if err := enqueueIn(ctx, pool, false, &catalogv1.BookDeleted{BookId: "b"}, &catalogv1.BookDeleted{BookId: "c"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n, err := conn.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("no notification after the commit: %v", err)
	}
	if n.Channel != Channel {
		t.Fatalf("notification on %q", n.Channel)
	}
}

// inboxEffects is a table the inbox tests' handlers write to.
func inboxEffects(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `CREATE TABLE effects (consumer text, event_id text, n int)`); err != nil {
		t.Fatal(err)
	}
}

func countEffects(t testing.TB, pool *pgxpool.Pool, consumer, eventID string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM effects WHERE consumer = $1 AND event_id = $2`,
		consumer, eventID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// effect returns a handler that writes one effect row and counts its calls.
func effect(calls *atomic.Int64, consumer, eventID string) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		calls.Add(1)
		_, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1, $2, 1)`, consumer, eventID)
		return err
	}
}

func TestHandleOnce(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	inboxEffects(t, pool)
	var calls atomic.Int64

	applied, err := HandleOnce(ctx, pool, "catalog", "e1", effect(&calls, "catalog", "e1"))
	if err != nil || !applied {
		t.Fatalf("first delivery: applied %v, %v", applied, err)
	}
	applied, err = HandleOnce(ctx, pool, "catalog", "e1", effect(&calls, "catalog", "e1"))
	if err != nil || applied {
		t.Fatalf("duplicate: applied %v, %v; want not applied, no error", applied, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("fn called %d times, want once", calls.Load())
	}
	if n := countEffects(t, pool, "catalog", "e1"); n != 1 {
		t.Fatalf("%d effects, want 1", n)
	}
	// Another consumer applies the same event for itself.
	applied, err = HandleOnce(ctx, pool, "rating", "e1", effect(&calls, "rating", "e1"))
	if err != nil || !applied {
		t.Fatalf("other consumer: applied %v, %v", applied, err)
	}
}

func TestHandleOnceFailureRecordsNothing(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	inboxEffects(t, pool)
	boom := errors.New("boom")
	applied, err := HandleOnce(ctx, pool, "catalog", "e2", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO effects VALUES ('catalog', 'e2', 1)`); err != nil {
			return err
		}
		if err := Enqueue(ctx, tx, "catalog", &catalogv1.BookDeleted{BookId: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || applied {
		t.Fatalf("failing fn: applied %v, error %v; want %v", applied, err, boom)
	}
	if n := countEffects(t, pool, "catalog", "e2"); n != 0 {
		t.Fatalf("%d effects of a failed handler", n)
	}
	if rows := outboxRows(t, pool); len(rows) != 0 {
		t.Fatalf("%d events enqueued by a failed handler", len(rows))
	}
	// The retry applies it, events included.
	var calls atomic.Int64
	applied, err = HandleOnce(ctx, pool, "catalog", "e2", func(ctx context.Context, tx pgx.Tx) error {
		if err := effect(&calls, "catalog", "e2")(ctx, tx); err != nil {
			return err
		}
		return Enqueue(ctx, tx, "catalog", &catalogv1.BookDeleted{BookId: "x"})
	})
	if err != nil || !applied {
		t.Fatalf("retry: applied %v, %v", applied, err)
	}
	if n := countEffects(t, pool, "catalog", "e2"); n != 1 {
		t.Fatalf("%d effects after the retry, want 1", n)
	}
	if rows := outboxRows(t, pool); len(rows) != 1 {
		t.Fatalf("%d events enqueued by the retry, want 1", len(rows))
	}
}

func TestHandleOnceConcurrentDuplicates(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	inboxEffects(t, pool)
	const events, copies = 20, 5
	var calls atomic.Int64
	var appliedN atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, events*copies)
	start := make(chan struct{})
	for e := range events {
		id := fmt.Sprintf("e%d", e)
		for range copies {
			wg.Go(func() {
				<-start
				applied, err := HandleOnce(ctx, pool, "catalog", id, func(ctx context.Context, tx pgx.Tx) error {
					// Hold the transaction open a little so the copies
					// really overlap.
					if _, err := tx.Exec(ctx, `SELECT pg_sleep(0.01)`); err != nil {
						return err
					}
					return effect(&calls, "catalog", id)(ctx, tx)
				})
				if err != nil {
					errs <- err
				}
				if applied {
					appliedN.Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if calls.Load() != events || appliedN.Load() != events {
		t.Fatalf("fn called %d times and applied %d, want %d each", calls.Load(), appliedN.Load(), events)
	}
	for e := range events {
		if n := countEffects(t, pool, "catalog", fmt.Sprintf("e%d", e)); n != 1 {
			t.Fatalf("event e%d applied %d times", e, n)
		}
	}
}

func TestHandleOnceRejectsEmptyNames(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	called := false
	fn := func(context.Context, pgx.Tx) error { called = true; return nil }
	if _, err := HandleOnce(ctx, pool, "", "e", fn); err == nil {
		t.Error("empty consumer accepted")
	}
	if _, err := HandleOnce(ctx, pool, "c", "", fn); err == nil {
		t.Error("empty event id accepted")
	}
	if called {
		t.Error("fn called")
	}
}

func TestPruneInbox(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	if _, err := pool.Exec(ctx, `INSERT INTO events.inbox (consumer, event_id, handled_at)
		SELECT 'c', 'old' || i, now() - interval '10 days' FROM generate_series(1, $1::int) i`, pruneChunk+10); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO events.inbox (consumer, event_id) VALUES ('c', 'new')`); err != nil {
		t.Fatal(err)
	}
	n, err := PruneInbox(ctx, pool, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != pruneChunk+10 {
		t.Fatalf("pruned %d rows, want %d", n, pruneChunk+10)
	}
	var left []string
	rows, _ := pool.Query(ctx, `SELECT event_id FROM events.inbox`)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(left) != 1 || left[0] != "new" {
		t.Fatalf("left %v (%v), want [new]", left, err)
	}
}

// TestDeployment: the migrations give the database an identity, a UUIDv7,
// that every read returns; a database whose identity was deleted (to
// part a clone from its original) gets a new one at the next read, and
// Enqueue refuses to write events without one.
func TestDeployment(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	first, err := Deployment(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := uuid.Parse(first); err != nil || id.Version() != 7 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("deployment %q is not a UUIDv7 (%v)", first, err)
	}
	again, err := Deployment(ctx, pool)
	if err != nil || again != first {
		t.Fatalf("second read %q, %v; want %q", again, err, first)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM events.deployment`); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return Enqueue(ctx, tx, "test", &catalogv1.BookDeleted{BookId: "x"})
	})
	if err == nil {
		t.Fatal("Enqueue without a deployment identity succeeded")
	}
	fresh, err := Deployment(ctx, pool)
	if err != nil || fresh == first {
		t.Fatalf("after the reset: %q, %v; want a new identity", fresh, err)
	}
	if id, err := uuid.Parse(fresh); err != nil || id.Version() != 7 {
		t.Fatalf("new deployment %q is not a UUIDv7", fresh)
	}
}
