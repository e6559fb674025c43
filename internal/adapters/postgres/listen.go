package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// listenConn opens a connection of its own (outside the pool: LISTEN needs a
// session that lives as long as its listener), named appName in
// pg_stat_activity, and LISTENs on channel. Close it with closeConn.
func listenConn(ctx context.Context, pool *pgxpool.Pool, appName, channel string) (*pgx.Conn, error) {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = appName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeConn(ctx, conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes conn, giving it a second even when ctx has ended.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = conn.Close(closeCtx)
}
