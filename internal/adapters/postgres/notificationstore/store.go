package notificationstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/notification"
)

// Store is notification.Queue and notification.Outbox on PostgreSQL.
type Store struct {
	db postgres.DB
}

var (
	_ notification.Queue  = (*Store)(nil)
	_ notification.Outbox = (*Store)(nil)
)

// NewStore returns the store of db: a pool, or a transaction whose commit
// the store's writes then join (the event consumer's inbox transaction).
func NewStore(db postgres.DB) *Store { return &Store{db: db} }

// errTable translates the store's driver errors.
var errTable = postgres.ErrorTable{Store: "notification"}

// UpdateOrder implements notification.Queue. The order's row is created
// when missing and locked until the transaction ends, so that the events
// of one order take turns; the email's (order, version) key makes a
// second email for one version impossible.
func (s *Store) UpdateOrder(ctx context.Context, orderID string, decide func(*notification.OrderState) (*notification.Email, error)) (bool, error) {
	var queued bool
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notification.orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING`, orderID); err != nil {
			return err
		}
		st := notification.OrderState{OrderID: orderID}
		if err := tx.QueryRow(ctx, `SELECT buyer_email, buyer_name, mailed_version, buyer_no_address FROM notification.orders
			WHERE order_id = $1 FOR UPDATE`, orderID).Scan(&st.Buyer.Email, &st.Buyer.Name, &st.MailedVersion, &st.NoAddress); err != nil {
			return err
		}
		e, err := decide(&st)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE notification.orders SET buyer_email = $2, buyer_name = $3, mailed_version = $4,
			buyer_no_address = $5, update_time = now() WHERE order_id = $1`, orderID, st.Buyer.Email, st.Buyer.Name, st.MailedVersion, st.NoAddress); err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO notification.emails (id, order_id, kind, order_version, to_email, to_name,
			subject, text_body, html_body, status, attempts, create_time, next_attempt_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11)
			ON CONFLICT (order_id, order_version) DO NOTHING`,
			e.ID, e.OrderID, e.Kind.String(), e.Version, e.To.Email, e.To.Name, e.Subject, e.Text, e.HTML,
			e.CreateTime, e.NextAttemptTime)
		if err != nil {
			return err
		}
		queued = tag.RowsAffected() == 1
		return nil
	})
	if err != nil {
		return false, errTable.Translate(ctx, err, "order "+orderID)
	}
	return queued, nil
}

// claimSQL claims due pending emails: the rows are locked with SKIP
// LOCKED, so concurrent claims (several replicas) divide the due rows
// among themselves instead of waiting or taking one twice; each claimed
// row's next attempt moves past the lease in the same statement.
const claimSQL = `WITH due AS (
	SELECT id, next_attempt_time AS due FROM notification.emails
	 WHERE status = 'pending' AND next_attempt_time <= $1 AND (attempts > 0) = $2
	 ORDER BY next_attempt_time, id
	 LIMIT $3
	   FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE notification.emails e SET attempts = e.attempts + 1, next_attempt_time = $4
	  FROM due WHERE e.id = due.id
	RETURNING e.id::text, e.order_id::text, e.kind, e.order_version, e.to_email, e.to_name, e.subject, e.text_body,
		e.html_body, e.attempts, e.create_time, e.next_attempt_time, e.last_error, due.due
)
SELECT * FROM claimed ORDER BY due, id`

// Claim implements notification.Outbox.
func (s *Store) Claim(ctx context.Context, q notification.ClaimQuery) ([]notification.Email, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, claimSQL, q.Now, q.Retries, q.Limit, q.Now.Add(q.Lease))
	if err != nil {
		return nil, errTable.Translate(ctx, err, "emails")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notification.Email, error) {
		var e notification.Email
		var kind string
		var due time.Time
		err := row.Scan(&e.ID, &e.OrderID, &kind, &e.Version, &e.To.Email, &e.To.Name, &e.Subject, &e.Text, &e.HTML,
			&e.Attempts, &e.CreateTime, &e.NextAttemptTime, &e.LastError, &due)
		if err != nil {
			return e, err
		}
		if e.Kind, err = notification.ParseKind(kind); err != nil {
			return e, err
		}
		e.Status = notification.StatusPending
		e.CreateTime, e.NextAttemptTime = e.CreateTime.UTC(), e.NextAttemptTime.UTC()
		return e, nil
	})
	if err != nil {
		return nil, errTable.Translate(ctx, err, "emails")
	}
	return out, nil
}

// MarkSent implements notification.Outbox.
func (s *Store) MarkSent(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE notification.emails SET status = 'sent', sent_time = $2, next_attempt_time = NULL
		WHERE id = $1 AND status = 'pending'`, id, at)
	return errTable.Translate(ctx, err, "email "+id)
}

// Retry implements notification.Outbox.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, lastError string) error {
	_, err := s.db.Exec(ctx, `UPDATE notification.emails SET next_attempt_time = $2, last_error = $3
		WHERE id = $1 AND status = 'pending'`, id, next, lastError)
	return errTable.Translate(ctx, err, "email "+id)
}

// MarkFailed implements notification.Outbox.
func (s *Store) MarkFailed(ctx context.Context, id string, at time.Time, lastError string) error {
	_, err := s.db.Exec(ctx, `UPDATE notification.emails SET status = 'failed', fail_time = $2, last_error = $3,
		next_attempt_time = NULL WHERE id = $1 AND status = 'pending'`, id, at, lastError)
	return errTable.Translate(ctx, err, "email "+id)
}

// deleteChunk is how many rows one clean-up statement deletes: small
// enough that no statement holds locks for long.
const deleteChunk = 5000

// deleteChunks runs sql (cut-off $1, chunk size $2) until it deletes less
// than a chunk.
func (s *Store) deleteChunks(ctx context.Context, sql string, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.db.Exec(ctx, sql, before, deleteChunk)
		if err != nil {
			return total, errTable.Translate(ctx, err, "clean-up")
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < deleteChunk {
			return total, nil
		}
	}
}

// DeleteSent implements notification.Outbox.
func (s *Store) DeleteSent(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteChunks(ctx, `DELETE FROM notification.emails WHERE id IN (
		SELECT id FROM notification.emails WHERE status = 'sent' AND sent_time < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before)
}

// ForgetOrders implements notification.Outbox.
func (s *Store) ForgetOrders(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteChunks(ctx, `DELETE FROM notification.orders WHERE order_id IN (
		SELECT order_id FROM notification.orders WHERE update_time < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before)
}

// Backlog implements notification.Outbox.
func (s *Store) Backlog(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest *time.Time
	err := s.db.QueryRow(ctx, `SELECT count(*), min(create_time) FROM notification.emails WHERE status = 'pending'`).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, errTable.Translate(ctx, err, "emails")
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, oldest.UTC(), nil
}

// Email returns one email with its status, for tests and operators.
func (s *Store) Email(ctx context.Context, id string) (notification.Email, error) {
	var e notification.Email
	var kind, status string
	var next, sent *time.Time
	err := s.db.QueryRow(ctx, `SELECT id::text, order_id::text, kind, order_version, to_email, to_name, subject, text_body,
		html_body, status, attempts, create_time, next_attempt_time, sent_time, last_error
		FROM notification.emails WHERE id = $1`, id).Scan(&e.ID, &e.OrderID, &kind, &e.Version, &e.To.Email, &e.To.Name,
		&e.Subject, &e.Text, &e.HTML, &status, &e.Attempts, &e.CreateTime, &next, &sent, &e.LastError)
	if err != nil {
		return e, errTable.Translate(ctx, err, "email "+id)
	}
	e.Kind, _ = notification.ParseKind(kind)
	e.Status, _ = notification.ParseStatus(status)
	if next != nil {
		e.NextAttemptTime = next.UTC()
	}
	if sent != nil {
		e.SentTime = sent.UTC()
	}
	e.CreateTime = e.CreateTime.UTC()
	return e, nil
}

// Emails returns every email of an order, oldest first, for tests and
// operators.
func (s *Store) Emails(ctx context.Context, orderID string) ([]notification.Email, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text FROM notification.emails WHERE order_id = $1 ORDER BY create_time, id`, orderID)
	if err != nil {
		return nil, errTable.Translate(ctx, err, "emails")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, errTable.Translate(ctx, err, "emails")
	}
	out := make([]notification.Email, 0, len(ids))
	for _, id := range ids {
		e, err := s.Email(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
