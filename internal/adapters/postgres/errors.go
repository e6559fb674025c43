package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// constraintErrors maps the constraints clients can run into to the error
// they see. Messages are for clients: they name fields and rules, never SQL.
var constraintErrors = map[string]func() error{
	"books_isbn_key": func() error { return failure.AlreadyExists("a book with this ISBN already exists") },
	"categories_name_key": func() error {
		return failure.AlreadyExists("a category with this name already exists")
	},
	"publishers_name_key": func() error {
		return failure.AlreadyExists("a publisher with this name already exists")
	},
	"books_category_id_fkey": func() error {
		return failure.Invalid(catalog.RequestField+"."+catalog.FieldCategoryID, "does not name an existing category")
	},
	"books_publisher_id_fkey": func() error {
		return failure.Invalid(catalog.RequestField+"."+catalog.FieldPublisherID, "does not name an existing publisher")
	},
	"book_authors_author_id_fkey": func() error {
		return failure.Invalid(catalog.RequestField+"."+catalog.FieldAuthorIDs, "names an author that does not exist")
	},
	"books_stock_check": func() error { return failure.FailedPrecondition("not enough copies in stock") },
}

// translate is the one place where driver errors become the core's failure
// sentinels. subject names what was asked for ("book 0191...") in a
// not-found message. Errors it does not know keep their cause, wrapped, for
// the log; the RPC adapter shows those as Internal without their text.
func translate(ctx context.Context, err error, subject string) error {
	if err == nil {
		return nil
	}
	var fe *failure.Error
	var ve *failure.ValidationError
	if errors.As(err, &fe) || errors.As(err, &ve) {
		return err // already a domain error, from an update closure say
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return failure.NotFound("%s not found", subject)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Cancelled by the caller (or its deadline passed): pgx reports that
		// in several shapes, the context says it plainly.
		return fmt.Errorf("catalog store: %w", ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("catalog store: %w", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if mk, ok := constraintErrors[pgErr.ConstraintName]; ok {
			return mk()
		}
		switch pgErr.Code {
		case "23505": // unique_violation
			return failure.AlreadyExists("%s already exists", subject)
		case "23503": // foreign_key_violation
			return failure.FailedPrecondition("%s refers to something that does not exist", subject)
		case "23514", "22001", "22003": // check_violation, string_data_right_truncation, numeric_value_out_of_range
			return failure.Invalid(catalog.RequestField, "a value is out of the range the catalog accepts")
		case "22P02": // invalid_text_representation, such as a malformed uuid
			return failure.Invalid("id", "must be a UUID")
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return failure.Conflict("%s was changed concurrently; read it again and retry", subject)
		case "57014": // query_canceled by statement_timeout (the context is fine)
			return fmt.Errorf("%w: the catalog took too long to answer", failure.ErrUnavailable)
		case "53300", "57P01", "57P02", "57P03": // too_many_connections, admin/crash shutdown, cannot_connect_now
			return fmt.Errorf("%w: the catalog database is not available", failure.ErrUnavailable)
		}
		return fmt.Errorf("catalog store: %w", err)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) {
		// The RPC adapter shows this message: the cause (hosts, addresses)
		// stays out of it.
		return fmt.Errorf("%w: the catalog database is not available", failure.ErrUnavailable)
	}
	return fmt.Errorf("catalog store: %w", err)
}
