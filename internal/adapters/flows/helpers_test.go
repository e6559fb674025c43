package flows

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
)

// enqueueIn runs Enqueue in a transaction of its own, committed unless
// rollback is set.
func enqueueIn(ctx context.Context, pool *pgxpool.Pool, rollback bool, events ...proto.Message) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := outbox.Enqueue(ctx, tx, "test", events...); err != nil {
		return err
	}
	if rollback {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}

// inboxEffects makes the table the test consumers write their effects to.
func inboxEffects(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `CREATE TABLE effects (consumer text, event_id text, n int)`); err != nil {
		t.Fatal(err)
	}
}
