// Package rpc is the Connect adapter: it turns requests of the BookWorm
// contract into calls of the core's use cases and their results (or errors)
// back into responses, for the Connect, gRPC and gRPC-Web protocols alike.
package rpc

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// codes is THE table from the core's semantic errors to Connect codes. The
// first row whose sentinel matches (errors.Is) wins; an error matching no row
// is Internal, its cause logged and never sent.
var codes = []struct {
	sentinel error
	code     connect.Code
}{
	{failure.ErrInvalid, connect.CodeInvalidArgument},
	{failure.ErrNotFound, connect.CodeNotFound},
	{failure.ErrAlreadyExists, connect.CodeAlreadyExists},
	{failure.ErrConflict, connect.CodeAborted},
	{failure.ErrFailedPrecondition, connect.CodeFailedPrecondition},
	{failure.ErrUnauthenticated, connect.CodeUnauthenticated},
	{failure.ErrPermissionDenied, connect.CodePermissionDenied},
	{failure.ErrResourceExhausted, connect.CodeResourceExhausted},
	{failure.ErrUnavailable, connect.CodeUnavailable},
	{context.Canceled, connect.CodeCanceled},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
}

// internalMessage is all a client learns about an unexpected error.
const internalMessage = "internal error"

var errInternal = errors.New(internalMessage)

// ToConnectError translates err into a *connect.Error with a message safe for
// clients. Errors that already are *connect.Error pass through unchanged.
func ToConnectError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	for _, row := range codes {
		if errors.Is(err, row.sentinel) {
			return newError(row.code, err)
		}
	}
	log.ErrorContext(ctx, "unexpected error", slog.String("procedure", procedure), slog.Any("error", err))
	return connect.NewError(connect.CodeInternal, errInternal)
}

// errorDomain is the domain of the google.rpc.ErrorInfo reasons BookWorm
// sends.
const errorDomain = "bookworm"

func newError(code connect.Code, err error) *connect.Error {
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		msg := err.Error()
		if code == connect.CodeCanceled || code == connect.CodeDeadlineExceeded {
			msg = code.String()
		}
		ce := connect.NewError(code, errors.New(msg))
		var fe *failure.Error
		if errors.As(err, &fe) {
			if reason, meta := fe.Reason(); reason != "" {
				if d, err := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain, Metadata: meta}); err == nil {
					ce.AddDetail(d)
				}
			}
		}
		return ce
	}
	ce := connect.NewError(code, errors.New(ve.Error()))
	br := &errdetails.BadRequest{}
	for _, v := range ve.Violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       v.Field,
			Description: v.Description,
		})
	}
	if d, err := connect.NewErrorDetail(br); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// NewErrorInterceptor returns the interceptor that applies ToConnectError to
// whatever a handler returns, so handlers return the core's errors as they are.
func NewErrorInterceptor(log *slog.Logger) connect.Interceptor {
	return errorInterceptor{log: log}
}

type errorInterceptor struct{ log *slog.Logger }

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		if err != nil {
			return nil, ToConnectError(ctx, i.log, req.Spec().Procedure, err)
		}
		return resp, nil
	}
}

func (i errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return ToConnectError(ctx, i.log, conn.Spec().Procedure, next(ctx, conn))
	}
}
