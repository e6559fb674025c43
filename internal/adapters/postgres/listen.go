package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// Listener tells Listen what to do with its connection. Every hook may be
// nil.
type Listener struct {
	// AppName names the connection in pg_stat_activity.
	AppName string
	// Channel is the NOTIFY channel listened on.
	Channel string
	// Listening runs each time a connection is listening (again):
	// notifications sent before it may have been missed.
	Listening func()
	// Notified runs for each notification, with its payload.
	Notified func(payload string)
	// Lost runs each time the connection is lost or cannot be made, before
	// the wait retryIn; ctx has not ended then.
	Lost func(err error, retryIn time.Duration)
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
}

// Listen holds a connection of its own (outside the pool: LISTEN needs a
// session that lives as long as its listener) that LISTENs on l.Channel,
// until ctx ends; then it returns. When the connection is lost it connects
// again (events.Reconnect, the one reconnect loop). The book cache and the
// outbox relay listen through it.
func Listen(ctx context.Context, pool *pgxpool.Pool, l Listener) {
	lo, hi := l.MinBackoff, l.MaxBackoff
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 5 * time.Second
	}
	hi = max(hi, lo)
	var lost func(error, bool, time.Duration)
	if l.Lost != nil {
		lost = func(err error, _ bool, retryIn time.Duration) { l.Lost(err, retryIn) }
	}
	events.Reconnect(ctx, lo, hi, func(ctx context.Context) (bool, error) { return listenOnce(ctx, pool, l) }, lost)
}

// listenOnce holds one listening connection until it fails or ctx ends.
// live reports whether it got as far as listening.
func listenOnce(ctx context.Context, pool *pgxpool.Pool, l Listener) (live bool, err error) {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = l.AppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		// A second to say goodbye, even when ctx has ended.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.Channel}.Sanitize()); err != nil {
		return false, err
	}
	if l.Listening != nil {
		l.Listening()
	}
	for {
		var n *pgconn.Notification
		if n, err = conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		if l.Notified != nil {
			l.Notified(n.Payload)
		}
	}
}

// LogLost returns a Listener.Lost that logs a warning with msg.
func LogLost(log *slog.Logger, msg string) func(err error, retryIn time.Duration) {
	return func(err error, retryIn time.Duration) {
		log.Warn(msg, slog.Any("error", err), slog.String("retry_in", retryIn.String()))
	}
}
