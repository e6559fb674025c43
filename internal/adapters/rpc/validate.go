package rpc

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// NewValidationInterceptor returns an interceptor that checks every request
// message against the protovalidate rules of the contract, and every string
// in it (nested messages, lists and maps included) for text no store can
// keep, and refuses a message that breaks one with InvalidArgument and a
// google.rpc.BadRequest listing every violated field. Place it after the
// error interceptor.
func NewValidationInterceptor() (connect.Interceptor, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	return validationInterceptor{v: v}, nil
}

type validationInterceptor struct{ v protovalidate.Validator }

func (i validationInterceptor) check(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	var vs failure.Violations
	checkText(m.ProtoReflect(), "", &vs)
	err := i.v.Validate(m)
	if err == nil {
		return vs.Err()
	}
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		// A rule that cannot be evaluated is a server bug, not a client one.
		return fmt.Errorf("validating %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	for _, x := range ve.Violations {
		vs.Add(protovalidate.FieldPathString(x.Proto.GetField()), x.Proto.GetMessage())
	}
	return vs.Err()
}

func (i validationInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := i.check(req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i validationInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i validationInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &validatingConn{StreamingHandlerConn: conn, check: i.check})
	}
}

type validatingConn struct {
	connect.StreamingHandlerConn
	check func(any) error
}

func (c *validatingConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	return c.check(msg)
}
