package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// ErrorTable is the one place where driver errors become the core's
// failure sentinels, for one store. Each context's store keeps a table of
// its own: the constraints its clients can run into and what they read then.
type ErrorTable struct {
	// Store names the store in the messages of unexpected errors (logged,
	// never shown) and of unavailability, for example "catalog".
	Store string
	// Constraints maps the name of a constraint (or unique index) to the
	// error a client sees when a write breaks it. Messages are for clients:
	// they name fields and rules, never SQL.
	Constraints map[string]func() error
	// OutOfRange is what a client sees when a value breaks a check, is too
	// long or too large for its column; nil for a generic invalid argument.
	OutOfRange func() error
}

// Translate returns the failure err means. subject names what was asked
// for ("book 0191...") in a not-found message. Domain errors (from an update
// closure, say) pass unchanged. Errors it does not know keep their cause,
// wrapped, for the log; the RPC adapter shows those as Internal without
// their text.
func (t ErrorTable) Translate(ctx context.Context, err error, subject string) error {
	if err == nil {
		return nil
	}
	var fe *failure.Error
	var ve *failure.ValidationError
	if errors.As(err, &fe) || errors.As(err, &ve) {
		return err // already a domain error
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return failure.NotFound("%s not found", subject)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Cancelled by the caller (or its deadline passed): pgx reports that
		// in several shapes, the context says it plainly.
		return fmt.Errorf("%s store: %w", t.Store, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s store: %w", t.Store, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if mk, ok := t.Constraints[pgErr.ConstraintName]; ok {
			return mk()
		}
		switch pgErr.Code {
		case "23505": // unique_violation
			return failure.AlreadyExists("%s already exists", subject)
		case "23503": // foreign_key_violation
			return failure.FailedPrecondition("%s refers to something that does not exist", subject)
		case "23514", "22001", "22003": // check_violation, string_data_right_truncation, numeric_value_out_of_range
			if t.OutOfRange != nil {
				return t.OutOfRange()
			}
			return failure.Invalid("", "a value is out of the accepted range")
		case "22P02": // invalid_text_representation, such as a malformed uuid
			return failure.Invalid("id", "must be a UUID")
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return failure.Conflict("%s was changed concurrently; read it again and retry", subject)
		case "57014": // query_canceled by statement_timeout (the context is fine)
			return fmt.Errorf("%w: the %s took too long to answer", failure.ErrUnavailable, t.Store)
		case "53300", "57P01", "57P02", "57P03": // too_many_connections, admin/crash shutdown, cannot_connect_now
			return fmt.Errorf("%w: the %s database is not available", failure.ErrUnavailable, t.Store)
		}
		return fmt.Errorf("%s store: %w", t.Store, err)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) {
		// The RPC adapter shows this message: the cause (hosts, addresses)
		// stays out of it.
		return fmt.Errorf("%w: the %s database is not available", failure.ErrUnavailable, t.Store)
	}
	return fmt.Errorf("%s store: %w", t.Store, err)
}
