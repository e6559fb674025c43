// Package failure holds the semantic errors every BookWorm context returns.
// The core wraps these sentinels with messages that are safe to show to a
// client; adapters map them to transport codes in one table each, so nothing
// below the adapter ever chooses a status code.
package failure

import (
	"errors"
	"fmt"
	"strings"
)

// The sentinels. Test with errors.Is.
var (
	// ErrInvalid means the request is malformed; it usually comes as a
	// *ValidationError naming the fields at fault.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound means the resource does not exist (or the caller may not
	// know that it does).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a resource with the same unique key exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means a concurrent change won a race; the caller may read
	// again and retry.
	ErrConflict = errors.New("concurrent modification")
	// ErrFailedPrecondition means the system is not in a state that allows
	// the operation (deleting a category books still use, say).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnauthenticated means the caller's identity is missing or invalid.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the caller may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted means a quota or rate limit was hit.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrUnavailable means a dependency is down; retrying later may work.
	ErrUnavailable = errors.New("unavailable")
)

// NotFound returns an ErrNotFound with a client-safe message.
func NotFound(format string, args ...any) error { return wrap(ErrNotFound, format, args...) }

// AlreadyExists returns an ErrAlreadyExists with a client-safe message.
func AlreadyExists(format string, args ...any) error { return wrap(ErrAlreadyExists, format, args...) }

// Conflict returns an ErrConflict with a client-safe message.
func Conflict(format string, args ...any) error { return wrap(ErrConflict, format, args...) }

// FailedPrecondition returns an ErrFailedPrecondition with a client-safe message.
func FailedPrecondition(format string, args ...any) error {
	return wrap(ErrFailedPrecondition, format, args...)
}

// FailedPreconditionWith returns an ErrFailedPrecondition with a
// client-safe message and a machine-readable reason (UPPER_SNAKE_CASE, such
// as "BOOK_OUT_OF_STOCK") with its metadata (such as the book's id), so a
// client can react to the reason without parsing the message. The RPC
// adapter sends them as a google.rpc.ErrorInfo.
func FailedPreconditionWith(reason string, metadata map[string]string, format string, args ...any) error {
	return &Error{kind: ErrFailedPrecondition, msg: fmt.Sprintf(format, args...), reason: reason, metadata: metadata}
}

func wrap(sentinel error, format string, args ...any) error {
	return &Error{kind: sentinel, msg: fmt.Sprintf(format, args...)}
}

// Error is a sentinel with a message meant for the client. Its Error method
// returns the message alone, so the transport can show it as it is.
type Error struct {
	kind     error
	msg      string
	reason   string
	metadata map[string]string
}

func (e *Error) Error() string { return e.msg }

// Reason returns the machine-readable reason, "" when there is none, and
// its metadata.
func (e *Error) Reason() (string, map[string]string) { return e.reason, e.metadata }

// Unwrap lets errors.Is find the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// Violation is one invalid field: its path in the request (for example
// "book.price.currency_code") and what is wrong with it.
type Violation struct {
	Field       string
	Description string
}

// ValidationError lists every invalid field of a request. It matches
// ErrInvalid.
type ValidationError struct {
	Violations []Violation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Unwrap lets errors.Is match ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a ValidationError for one field.
func Invalid(field, description string) error {
	return &ValidationError{Violations: []Violation{{Field: field, Description: description}}}
}

// Violations collects field violations; its Err is nil when there are none.
type Violations struct {
	list []Violation
}

// Add records a violation of field.
func (v *Violations) Add(field, description string) {
	v.list = append(v.list, Violation{Field: field, Description: description})
}

// Merge records the violations of err under prefix when err is a
// ValidationError, and reports whether it was one.
func (v *Violations) Merge(prefix string, err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, x := range ve.Violations {
		field := x.Field
		if prefix != "" {
			field = prefix + "." + field
		}
		v.Add(field, x.Description)
	}
	return true
}

// Err returns a *ValidationError with the collected violations, or nil.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	return &ValidationError{Violations: v.list}
}

// Prefix returns err with every field path of a ValidationError prefixed by
// prefix; other errors come back unchanged.
func Prefix(prefix string, err error) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var v Violations
	v.Merge(prefix, ve)
	return v.Err()
}
