package bookworm

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RetryPolicy says how a client retries. Two kinds of failure are retried:
//
//   - resource_exhausted carrying a google.rpc.RetryInfo (or a Retry-After
//     header): the server's rate limiter refused the call before running
//     it, so any method, writes included, is sent again after the delay
//     the server gave;
//   - unavailable, for idempotent methods only (idempotency_level
//     NO_SIDE_EFFECTS or IDEMPOTENT in the contract): the server may or
//     may not have run the call, which is harmless only for those. The
//     delay is the server's RetryInfo if any, else an exponential backoff
//     from BaseDelay with jitter.
//
// Every other error reaches the caller at once. A client never waits past
// its context: when the delay would outlast the context's deadline, or the
// context is done while waiting, the last error is returned.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of one call, the first included.
	MaxAttempts int
	// MaxDelay bounds one wait. A server asking for a longer one is not
	// waited for: the error is returned (a job can then pause as it sees
	// fit).
	MaxDelay time.Duration
	// BaseDelay is the first backoff after unavailable without RetryInfo;
	// it doubles on every attempt, up to MaxDelay.
	BaseDelay time.Duration
}

// DefaultRetryPolicy is the policy of NewCatalogClient and NewRatingClient:
// 5 attempts, waits of at most 30s, backoff from 100ms.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, MaxDelay: 30 * time.Second, BaseDelay: 100 * time.Millisecond}
}

// NewRetryInterceptor returns a client interceptor applying p to unary
// calls (streams pass through: their messages cannot be replayed). Give it
// first to connect.WithInterceptors, so that each attempt passes through
// the interceptors after it (a token source, say). Zero fields of p take
// DefaultRetryPolicy's values.
func NewRetryInterceptor(p RetryPolicy) connect.Interceptor {
	def := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = def.MaxAttempts
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = def.MaxDelay
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = def.BaseDelay
	}
	return retryInterceptor{p: p}
}

type retryInterceptor struct{ p RetryPolicy }

// WrapUnary implements connect.Interceptor.
func (r retryInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			return next(ctx, req)
		}
		idempotent := isIdempotent(req.Spec())
		backoff := r.p.BaseDelay
		for attempt := 1; ; attempt++ {
			res, err := next(ctx, req)
			if err == nil || attempt >= r.p.MaxAttempts {
				return res, err
			}
			delay, ok := r.delay(err, idempotent, &backoff)
			if !ok || delay > r.p.MaxDelay {
				return res, err
			}
			if deadline, has := ctx.Deadline(); has && time.Until(deadline) < delay {
				return res, err
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, err
			case <-t.C:
			}
		}
	}
}

// delay says whether err is worth another attempt, and after how long.
func (r retryInterceptor) delay(err error, idempotent bool, backoff *time.Duration) (time.Duration, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return 0, false
	}
	server, told := RetryDelay(ce)
	switch ce.Code() {
	case connect.CodeResourceExhausted:
		return server, told
	case connect.CodeUnavailable:
		if !idempotent {
			return 0, false
		}
		if told {
			return server, true
		}
		d := *backoff
		*backoff = min(2**backoff, r.p.MaxDelay)
		// Full jitter over the upper half: replicas of one job do not retry
		// in step.
		return d/2 + rand.N(d/2+1), true
	}
	return 0, false
}

// WrapStreamingClient implements connect.Interceptor: streams pass through.
func (retryInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: handlers pass through.
func (retryInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// isIdempotent reads the method's idempotency level: from the spec the
// generated client sets, else from the method descriptor's options.
func isIdempotent(spec connect.Spec) bool {
	switch spec.IdempotencyLevel {
	case connect.IdempotencyNoSideEffects, connect.IdempotencyIdempotent:
		return true
	}
	md, ok := spec.Schema.(protoreflect.MethodDescriptor)
	if !ok {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
		return true
	}
	return false
}

// retryInfoType is the full name of google.rpc.RetryInfo.
const retryInfoType = "google.rpc.RetryInfo"

// RetryDelay returns the delay the server asked for in err: its
// google.rpc.RetryInfo detail, else its Retry-After header (in seconds).
// It reports false when the server gave none.
func RetryDelay(err *connect.Error) (time.Duration, bool) {
	for _, d := range err.Details() {
		if d.Type() != retryInfoType {
			continue
		}
		if delay, ok := decodeRetryInfo(d.Bytes()); ok {
			return delay, true
		}
	}
	if v := strings.TrimSpace(err.Meta().Get("Retry-After")); v != "" {
		if s, e := strconv.Atoi(v); e == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	return 0, false
}

// decodeRetryInfo reads google.rpc.RetryInfo's retry_delay (field 1, a
// google.protobuf.Duration) from its wire form. Decoding it here spares
// every SDK user the googleapis module for one field.
func decodeRetryInfo(b []byte) (time.Duration, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, false
			}
			var d durationpb.Duration
			if proto.Unmarshal(v, &d) != nil || d.CheckValid() != nil || d.AsDuration() < 0 {
				return 0, false
			}
			return d.AsDuration(), true
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
	}
	return 0, false
}
