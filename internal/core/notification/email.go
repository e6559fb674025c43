package notification

import (
	"errors"
	"time"
)

// Status is where an email of the outbox is.
type Status int

// The statuses of an email.
const (
	StatusUnspecified Status = iota
	// StatusPending: waiting for its first or next attempt.
	StatusPending
	// StatusSent: the SMTP server accepted it.
	StatusSent
	// StatusFailed: given up (a permanent failure, or too many attempts);
	// never sent again.
	StatusFailed
)

var statusNames = map[Status]string{StatusPending: "pending", StatusSent: "sent", StatusFailed: "failed"}

// String is the status's name, as stored.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "unspecified"
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) {
	for k, n := range statusNames {
		if n == s {
			return k, nil
		}
	}
	return StatusUnspecified, errors.New("notification: unknown status " + s)
}

// Content is what an email says.
type Content struct {
	Subject string
	Text    string
	HTML    string
}

// Email is one row of the email outbox.
type Email struct {
	// ID is the row's id, a UUIDv7. Every attempt to send the row carries
	// a Message-ID made from it, so that a copy sent twice is recognisable.
	ID      string
	OrderID string
	Kind    Kind
	// Version is the order version the email reports.
	Version int64
	To      Buyer
	Content
	Status Status
	// Attempts counts the attempts made, the one in progress included.
	Attempts int
	// CreateTime is when it was queued; NextAttemptTime when it is due
	// next (while pending); SentTime when the server accepted it.
	CreateTime      time.Time
	NextAttemptTime time.Time
	SentTime        time.Time
	// LastError is the last failure, for operators; it never holds the
	// address or the body.
	LastError string
}

// OrderState is what the context remembers of one order: the buyer (the
// last event that named one) and the newest version it queued an email for.
type OrderState struct {
	OrderID string
	Buyer   Buyer
	// MailedVersion is the version of the newest notice that made an
	// email; 0 before the first.
	MailedVersion int64
	// NoAddress records that an event naming the buyer came without an
	// email address: the buyer has none, so nothing is mailed.
	NoAddress bool
}
