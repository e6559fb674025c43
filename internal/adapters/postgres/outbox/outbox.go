// Package outbox is BookWorm's event plumbing on PostgreSQL, shared by every
// context: the transactional outbox (Enqueue, in the transaction of the
// change an event announces), the relay that publishes it through any
// events.Publisher (Relay, the outbox's forwarder), and the inbox that makes
// every consumer apply each event once (HandleOnce, Handler), and the
// deployment's identity that every event carries (Deployment). Its tables
// live in the schema events (events.outbox, events.inbox,
// events.deployment), created by its own migrations (Migrations).
//
// It depends on the broker-neutral events package only: RabbitMQ (or any
// other broker) is plugged in by the composition root.
package outbox

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

// Channel is the LISTEN/NOTIFY channel on which Enqueue wakes the
// relay. The notification goes out when, and only if, the transaction that
// wrote the events commits.
const Channel = "bookworm_outbox"

// enqueueInsert inserts the events.
const enqueueInsert = `INSERT INTO events.outbox (event_id, type, source, occur_time, traceparent, tracestate, data)
	SELECT e.id, e.type, '` + events.SourceScheme + `' || (SELECT id::text FROM events.deployment) || '/' || $3, $4, $5, $6, e.data
	  FROM unnest($1::uuid[], $2::text[], $7::bytea[]) WITH ORDINALITY AS e (id, type, data, ord)
	 ORDER BY e.ord`

// enqueueSQL inserts the events and notifies the relay in one round trip (a
// data-modifying CTE runs even when nothing reads it).
const enqueueSQL = `WITH ins AS (` + enqueueInsert + `)
SELECT pg_notify('` + Channel + `', '')`

// Enqueue writes events to the transactional outbox inside tx: each event's
// row is committed or rolled back with the state change that caused it, and
// the relay publishes it to the broker after the commit. Each event gets a
// new UUIDv7 as its id (ce-id); its type (ce-type) is the message's protobuf
// full name, its source (ce-source) is events.Source(<deployment>, source):
// the deployment's identity, read in the same statement, and source, the
// producing context's name (for example "catalog"); its time (ce-time) is now in UTC, its trace context
// is the span context of ctx (W3C traceparent and tracestate, empty when
// there is none), and its data is the binary protobuf encoding. Enqueue also
// notifies the relay (pg_notify on Channel), which Postgres delivers
// once per transaction at commit however many times it is called; inside a
// HandleOnce handler it leaves that to HandleOnce, which wakes the relays
// after its commit (see WriteThenNotify for why).
func Enqueue(ctx context.Context, tx pgx.Tx, source string, msgs ...proto.Message) error {
	args, types, err := enqueueArgs(ctx, source, msgs)
	if err != nil || args == nil {
		return err
	}
	// Without a deployment row the source is NULL, which the table
	// refuses: no event leaves without its deployment's identity.
	sql := enqueueSQL
	if announcedAfterCommit(ctx) {
		sql = enqueueInsert
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", strings.Join(types, ", "), err)
	}
	return nil
}

// EnqueueBatch queues on b the statement with which Enqueue writes msgs,
// so that a store sends it with its own writes in one round trip. b must
// be sent in the transaction of the change the events announce (tx.SendBatch)
// and its results read to the end: the statement's error, should it fail,
// is the batch's. It does what Enqueue does but notify the relay: send
// RelayNote after the commit (WriteThenNotify), unless b is sent inside a
// HandleOnce handler, whose commit is followed by one.
func EnqueueBatch(ctx context.Context, b *pgx.Batch, source string, msgs ...proto.Message) error {
	args, _, err := enqueueArgs(ctx, source, msgs)
	if err != nil || args == nil {
		return err
	}
	announcedAfterCommit(ctx)
	b.Queue(enqueueInsert, args...)
	return nil
}

// enqueueArgs are the arguments of enqueueSQL for msgs, and their types;
// nil when there are no messages.
func enqueueArgs(ctx context.Context, source string, msgs []proto.Message) (args []any, types []string, err error) {
	if len(msgs) == 0 {
		return nil, nil, nil
	}
	if source == "" || strings.Contains(source, "/") {
		return nil, nil, fmt.Errorf("outbox: event source %q: want a context name", source)
	}
	ids := make([]string, len(msgs))
	types = make([]string, len(msgs))
	data := make([][]byte, len(msgs))
	for i, e := range msgs {
		if e == nil {
			return nil, nil, errors.New("outbox: nil event")
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: event id: %w", err)
		}
		ids[i] = id.String()
		types[i] = string(e.ProtoReflect().Descriptor().FullName())
		if data[i], err = proto.Marshal(e); err != nil {
			return nil, nil, fmt.Errorf("outbox: marshal %s: %w", types[i], err)
		}
	}
	traceparent, tracestate := events.TraceContext(ctx)
	return []any{ids, types, source, time.Now().UTC(), traceparent, tracestate, data}, types, nil
}

// Deployment returns the identity of the deployment whose database pool
// reaches: a UUIDv7 made once (by the migrations, or here should the row
// have been deleted to give a cloned database an identity of its own) and
// shared by every process on the database.
func Deployment(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("outbox: deployment identity: %w", err)
	}
	var got string
	err = pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO events.deployment (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id)
		SELECT id::text FROM ins UNION ALL SELECT id::text FROM events.deployment LIMIT 1`, id).Scan(&got)
	if err != nil {
		return "", fmt.Errorf("outbox: deployment identity: %w", err)
	}
	return got, nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema events: the outbox and the inbox.
// Every server runs them, whatever contexts it serves.
var Migrations = postgres.Migrations{Schema: "events", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
