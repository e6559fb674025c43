package outbox

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

// A NOTIFY inside a transaction makes its commit take a lock that every
// other notifying commit of the whole Postgres server waits for, and holds
// it until the commit is flushed to disk: notifying commits go one at a
// time, one WAL flush each, with no group commit (on the 2-core bench
// machine, 430 commits/s with a NOTIFY against 1,850 without). The
// checkout's writes therefore announce themselves after their commit
// instead (WriteThenNotify, HandleOnce), with a NOTIFY alone in its own
// transaction, which writes no WAL and waits for no flush.
//
// What that gives up is only the notification of a process that dies
// between its commit and the NOTIFY; every listener that matters has a
// fallback for a lost notification: the relay polls (PollInterval), and
// the order change feed reloads its watchers periodically.

// Note is a notification to send: a LISTEN/NOTIFY channel and a payload.
type Note struct {
	Channel, Payload string
}

// RelayNote wakes the relays: the note of a write that enqueued events
// with EnqueueBatch.
var RelayNote = Note{Channel: Channel}

// notifySQL sends every note of two parallel arrays in one statement.
const notifySQL = `SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS n (c, p)`

// WriteThenNotify runs write in a transaction of db and, once it has
// committed, sends notes in a statement of their own on the same
// connection (see above for why not inside the transaction). When db is a
// transaction already (a caller's), the notes are sent inside it, as part of
// the caller's commit, since this function cannot see that commit.
//
// A failure to send the notes after the commit is not an error of the
// write, which is committed: the listeners' fallbacks cover it.
func WriteThenNotify(ctx context.Context, db postgres.DB, write func(tx pgx.Tx) error, notes ...Note) error {
	switch d := db.(type) {
	case pgx.Tx:
		return postgres.InTx(ctx, d, func(tx pgx.Tx) error {
			if err := write(tx); err != nil {
				return err
			}
			return sendNotes(ctx, tx, notes)
		})
	case *pgxpool.Pool:
		conn, err := d.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if err := pgx.BeginFunc(ctx, conn, write); err != nil {
			return err
		}
		_ = sendNotes(context.WithoutCancel(ctx), conn, notes)
		return nil
	default:
		if err := postgres.InTx(ctx, db, write); err != nil {
			return err
		}
		_ = sendNotes(context.WithoutCancel(ctx), db, notes)
		return nil
	}
}

func sendNotes(ctx context.Context, q postgres.Querier, notes []Note) error {
	if len(notes) == 0 {
		return nil
	}
	chans := make([]string, len(notes))
	payloads := make([]string, len(notes))
	for i, n := range notes {
		if n.Channel == "" {
			return errors.New("outbox: a note without a channel")
		}
		chans[i], payloads[i] = n.Channel, n.Payload
	}
	var sent int64
	return q.QueryRow(ctx, notifySQL, chans, payloads).Scan(&sent)
}

// announceKey marks the context of a HandleOnce handler: its transaction's
// commit is followed by a wake-up of the relays, so Enqueue inside it need
// not notify within the transaction.
type announceKey struct{}

// announcer records whether a handler enqueued events.
type announcer struct{ enqueued bool }

func withAnnouncer(ctx context.Context) (context.Context, *announcer) {
	a := &announcer{}
	return context.WithValue(ctx, announceKey{}, a), a
}

// announcedAfterCommit reports whether ctx is a HandleOnce handler's, and
// notes that events are waiting for the wake-up after its commit.
func announcedAfterCommit(ctx context.Context) bool {
	a, ok := ctx.Value(announceKey{}).(*announcer)
	if ok {
		a.enqueued = true
	}
	return ok
}
