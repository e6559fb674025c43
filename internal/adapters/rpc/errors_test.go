package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

func TestToConnectError(t *testing.T) {
	secret := errors.New("pq: relation \"books\" does not exist at 10.0.0.7")
	tests := []struct {
		name     string
		err      error
		code     connect.Code
		message  string
		fields   []string
		wantLogs bool
	}{
		{name: "not found", err: failure.NotFound("book 1 not found"), code: connect.CodeNotFound, message: "book 1 not found"},
		{name: "wrapped not found", err: fmt.Errorf("loading: %w", failure.NotFound("gone")), code: connect.CodeNotFound},
		{name: "already exists", err: failure.AlreadyExists("dup"), code: connect.CodeAlreadyExists, message: "dup"},
		{name: "conflict is aborted", err: failure.Conflict("raced"), code: connect.CodeAborted, message: "raced"},
		{name: "failed precondition", err: failure.FailedPrecondition("in use"), code: connect.CodeFailedPrecondition},
		{name: "unauthenticated", err: failure.ErrUnauthenticated, code: connect.CodeUnauthenticated},
		{name: "permission denied", err: failure.ErrPermissionDenied, code: connect.CodePermissionDenied},
		{name: "resource exhausted", err: failure.ErrResourceExhausted, code: connect.CodeResourceExhausted},
		{name: "unavailable", err: failure.ErrUnavailable, code: connect.CodeUnavailable},
		{name: "canceled", err: context.Canceled, code: connect.CodeCanceled},
		{name: "deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), code: connect.CodeDeadlineExceeded, message: "deadline_exceeded"},
		{
			name:   "validation carries field violations",
			err:    &failure.ValidationError{Violations: []failure.Violation{{Field: "book.title", Description: "must not be empty"}, {Field: "page_size", Description: "too big"}}},
			code:   connect.CodeInvalidArgument,
			fields: []string{"book.title", "page_size"},
		},
		{name: "unmapped is internal and hidden", err: secret, code: connect.CodeInternal, message: "internal error", wantLogs: true},
		{name: "connect errors pass through", err: connect.NewError(connect.CodeOutOfRange, errors.New("x")), code: connect.CodeOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			err := ToConnectError(context.Background(), log, "/svc/Method", tt.err)
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T, want *connect.Error", err)
			}
			if ce.Code() != tt.code {
				t.Fatalf("code %v, want %v", ce.Code(), tt.code)
			}
			if tt.message != "" && ce.Message() != tt.message {
				t.Errorf("message %q, want %q", ce.Message(), tt.message)
			}
			if strings.Contains(ce.Message(), "10.0.0.7") {
				t.Errorf("message leaks the cause: %q", ce.Message())
			}
			if got := logs.Len() > 0; got != tt.wantLogs {
				t.Errorf("logged = %v, want %v (%s)", got, tt.wantLogs, logs.String())
			}
			if tt.wantLogs && !strings.Contains(logs.String(), "10.0.0.7") {
				t.Errorf("the cause is not logged: %s", logs.String())
			}
			var fields []string
			for _, d := range ce.Details() {
				v, err := d.Value()
				if err != nil {
					t.Fatal(err)
				}
				if br, ok := v.(*errdetails.BadRequest); ok {
					for _, fv := range br.GetFieldViolations() {
						fields = append(fields, fv.GetField())
					}
				}
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("field violations %v, want %v", fields, tt.fields)
			}
		})
	}
	if ToConnectError(context.Background(), slog.Default(), "/x", nil) != nil {
		t.Error("nil must stay nil")
	}
}

// TestReasonsBecomeErrorInfo: a failure with a machine-readable reason
// reaches the client as a google.rpc.ErrorInfo beside its message.
func TestReasonsBecomeErrorInfo(t *testing.T) {
	err := failure.FailedPreconditionWith("BOOK_OUT_OF_STOCK", map[string]string{"book_id": "b1"}, "book b1 is out of stock")
	ce := ToConnectError(context.Background(), slog.New(slog.DiscardHandler), "/x", err)
	if connect.CodeOf(ce) != connect.CodeFailedPrecondition || ce.(*connect.Error).Message() != "book b1 is out of stock" {
		t.Fatalf("got %v", ce)
	}
	var info *errdetails.ErrorInfo
	for _, d := range ce.(*connect.Error).Details() {
		if v, err := d.Value(); err == nil {
			if i, ok := v.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
	}
	if info.GetReason() != "BOOK_OUT_OF_STOCK" || info.GetDomain() != "bookworm" || info.GetMetadata()["book_id"] != "b1" {
		t.Fatalf("ErrorInfo %v", info)
	}
	// Without a reason there is no ErrorInfo.
	plain := ToConnectError(context.Background(), slog.New(slog.DiscardHandler), "/x", failure.FailedPrecondition("in use"))
	if n := len(plain.(*connect.Error).Details()); n != 0 {
		t.Fatalf("%d details on a failure without reason", n)
	}
}
