package notification

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Queue is where the notification context records what it heard of an
// order and queues its emails. Implementations must be safe for
// concurrent use.
type Queue interface {
	// UpdateOrder loads the state of the order (the zero OrderState with
	// its OrderID when the order is new), calls decide on it, and, when
	// decide returns no error, saves the state and queues the email decide
	// returns (none when nil), all in one transaction. Concurrent calls for
	// one order take turns. An email for an (order, version) that is queued
	// already is not queued again: queued reports whether this call queued
	// one. Errors of decide come back as they are.
	UpdateOrder(ctx context.Context, orderID string, decide func(*OrderState) (*Email, error)) (queued bool, err error)
}

// ClaimQuery selects the emails a sender claims.
type ClaimQuery struct {
	// Now is the current time: due emails have a next attempt at or before
	// it.
	Now time.Time
	// Retries selects emails tried before (Attempts > 0); otherwise only
	// emails never tried.
	Retries bool
	// Limit is the most emails claimed.
	Limit int
	// Lease is how long the claim hides the emails from other claims: each
	// claimed email's next attempt moves to Now+Lease, so that an email
	// whose sender died is claimed again once the lease is over.
	Lease time.Duration
}

// Outbox is the email outbox as senders and the clean-up see it.
// Implementations must be safe for concurrent use by several processes.
type Outbox interface {
	// Claim returns up to q.Limit pending emails due at q.Now, oldest due
	// first, and counts an attempt of each (Attempts is the attempt now
	// made) and moves its next attempt to q.Now+q.Lease, in one
	// transaction. Concurrent claims never return the same email while its
	// lease lasts (rows locked by another claim are skipped, not waited
	// for).
	Claim(ctx context.Context, q ClaimQuery) ([]Email, error)
	// MarkSent records that the server accepted the email.
	MarkSent(ctx context.Context, id string, at time.Time) error
	// Retry records a temporary failure: the email stays pending and is
	// due at next.
	Retry(ctx context.Context, id string, next time.Time, lastError string) error
	// MarkFailed records that the email will never be sent.
	MarkFailed(ctx context.Context, id string, at time.Time, lastError string) error
	// DeleteSent deletes emails sent before before, and only those (never
	// pending nor failed ones), returning how many.
	DeleteSent(ctx context.Context, before time.Time) (int64, error)
	// ForgetOrders deletes the state of orders last changed before before
	// (their buyers' addresses), returning how many.
	ForgetOrders(ctx context.Context, before time.Time) (int64, error)
	// Backlog returns the number of pending emails and when the oldest of
	// them was queued (zero when none).
	Backlog(ctx context.Context) (pending int64, oldest time.Time, err error)
}

// Mailer delivers one email to an SMTP server (or anything like one).
// Implementations must be safe for concurrent use.
type Mailer interface {
	// Send delivers e, with a Message-ID derived from e.ID. A failure the
	// server says is permanent (a 5xx answer to the sender, a recipient or
	// the data: an unknown mailbox, say) is a *PermanentError; any other
	// failure (4xx, a refused connection, a timeout) is temporary, and the
	// email is tried again later.
	Send(ctx context.Context, e Email) error
}

// PermanentError is a delivery failure that trying again does not mend.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as a permanent delivery failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// errorText is err cut to a length fit for the outbox's last_error.
func errorText(err error) string {
	s := fmt.Sprint(err)
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}
