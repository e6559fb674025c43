package bookworm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bookworm-store/bookworm/sdk/go/bookworm"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// retryInfo is google.rpc.RetryInfo built from its descriptor, so that the
// SDK module needs no googleapis module even in its tests.
var retryInfo = func() protoreflect.MessageDescriptor {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("google/rpc/error_details_test.proto"),
		Package:    proto.String("google.rpc"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/duration.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("RetryInfo"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("retry_delay"), JsonName: proto.String("retryDelay"), Number: proto.Int32(1),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
				TypeName: proto.String(".google.protobuf.Duration"),
			}},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd.Messages().Get(0)
}()

// exhausted is what BookWorm's rate limiter answers: resource_exhausted
// with a RetryInfo.
func exhausted(delay time.Duration) error {
	m := dynamicpb.NewMessage(retryInfo)
	m.Set(retryInfo.Fields().Get(0), protoreflect.ValueOfMessage(durationpb.New(delay).ProtoReflect()))
	ce := connect.NewError(connect.CodeResourceExhausted, errors.New("rate limit exceeded"))
	d, err := connect.NewErrorDetail(m)
	if err != nil {
		panic(err)
	}
	ce.AddDetail(d)
	return ce
}

// script answers each call with the next scripted error, then succeeds.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls []time.Time
}

func (s *script) next() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if len(s.calls) <= len(s.errs) {
		return s.errs[len(s.calls)-1]
	}
	return nil
}

func (s *script) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// gap is the time between the first two attempts.
func (s *script) gap() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) < 2 {
		return 0
	}
	return s.calls[1].Sub(s.calls[0])
}

type catalogHandler struct {
	catalogv1connect.UnimplementedCatalogServiceHandler
	s *script
}

func (h catalogHandler) GetBook(_ context.Context, req *connect.Request[catalogv1.GetBookRequest]) (*connect.Response[catalogv1.GetBookResponse], error) {
	if err := h.s.next(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.GetBookResponse{Book: &catalogv1.Book{Id: req.Msg.GetId()}}), nil
}

func (h catalogHandler) CreateBook(_ context.Context, req *connect.Request[catalogv1.CreateBookRequest]) (*connect.Response[catalogv1.CreateBookResponse], error) {
	if err := h.s.next(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&catalogv1.CreateBookResponse{Book: &catalogv1.Book{Title: req.Msg.GetBook().GetTitle()}}), nil
}

type ratingHandler struct {
	ratingv1connect.UnimplementedRatingServiceHandler
	s *script
}

func (h ratingHandler) CreateReview(_ context.Context, req *connect.Request[ratingv1.CreateReviewRequest]) (*connect.Response[ratingv1.CreateReviewResponse], error) {
	if err := h.s.next(); err != nil {
		return nil, err
	}
	if req.Header().Get("Authorization") != "Bearer reader-token" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no token"))
	}
	return connect.NewResponse(&ratingv1.CreateReviewResponse{Review: &ratingv1.Review{BookId: req.Msg.GetBookId(), Stars: req.Msg.GetReview().GetStars()}}), nil
}

func (h ratingHandler) GetRatingSummary(_ context.Context, req *connect.Request[ratingv1.GetRatingSummaryRequest]) (*connect.Response[ratingv1.GetRatingSummaryResponse], error) {
	if err := h.s.next(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&ratingv1.GetRatingSummaryResponse{Summary: &ratingv1.RatingSummary{BookId: req.Msg.GetBookId(), Count: 2}}), nil
}

// serve starts real Connect handlers of both services answering from s,
// over HTTP/1.1 and cleartext HTTP/2 (for gRPC).
func serve(t *testing.T, s *script) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(catalogv1connect.NewCatalogServiceHandler(catalogHandler{s: s}))
	mux.Handle(ratingv1connect.NewRatingServiceHandler(ratingHandler{s: s}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRetries(t *testing.T) {
	fast := bookworm.RetryPolicy{MaxAttempts: 4, MaxDelay: 2 * time.Second, BaseDelay: 10 * time.Millisecond}
	unavailable := connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
	tests := []struct {
		name         string
		errs         []error
		call         string // "read" (GetBook) or "write" (CreateBook)
		opts         []bookworm.Option
		ctxTimeout   time.Duration
		wantCode     connect.Code // 0: success
		wantAttempts int
		minGap       time.Duration // least time between the first two attempts
		maxElapsed   time.Duration
	}{
		{name: "read retried on unavailable", call: "read", errs: []error{unavailable, unavailable}, wantAttempts: 3},
		{name: "write not retried on unavailable", call: "write", errs: []error{unavailable}, wantCode: connect.CodeUnavailable, wantAttempts: 1},
		{name: "write retried after the server's delay", call: "write", errs: []error{exhausted(150 * time.Millisecond)}, wantAttempts: 2, minGap: 150 * time.Millisecond},
		{name: "read retried after the server's delay", call: "read", errs: []error{exhausted(100 * time.Millisecond), exhausted(50 * time.Millisecond)}, wantAttempts: 3, minGap: 100 * time.Millisecond},
		{name: "exhausted without a delay not retried", call: "write",
			errs: []error{connect.NewError(connect.CodeResourceExhausted, errors.New("message too large"))}, wantCode: connect.CodeResourceExhausted, wantAttempts: 1},
		{name: "attempts bounded", call: "write", errs: []error{exhausted(time.Millisecond), exhausted(time.Millisecond), exhausted(time.Millisecond), exhausted(time.Millisecond), exhausted(time.Millisecond)},
			wantCode: connect.CodeResourceExhausted, wantAttempts: 4},
		{name: "delay over the maximum not waited for", call: "write", errs: []error{exhausted(time.Minute)}, wantCode: connect.CodeResourceExhausted, wantAttempts: 1, maxElapsed: time.Second},
		{name: "delay past the deadline not waited for", call: "write", errs: []error{exhausted(1500 * time.Millisecond)}, ctxTimeout: 300 * time.Millisecond,
			wantCode: connect.CodeResourceExhausted, wantAttempts: 1, maxElapsed: 250 * time.Millisecond},
		{name: "other errors not retried", call: "read", errs: []error{connect.NewError(connect.CodeNotFound, errors.New("no such book"))}, wantCode: connect.CodeNotFound, wantAttempts: 1},
		{name: "opt-out", call: "read", errs: []error{unavailable}, opts: []bookworm.Option{bookworm.WithoutRetry()}, wantCode: connect.CodeUnavailable, wantAttempts: 1},
		{name: "over gRPC", call: "write", errs: []error{exhausted(50 * time.Millisecond)}, opts: []bookworm.Option{bookworm.WithProtocol(bookworm.GRPC)}, wantAttempts: 2, minGap: 50 * time.Millisecond},
		{name: "over JSON", call: "read", errs: []error{unavailable}, opts: []bookworm.Option{bookworm.WithJSON()}, wantAttempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{errs: tt.errs}
			client := bookworm.NewCatalogClient(serve(t, s), append([]bookworm.Option{bookworm.WithRetry(fast)}, tt.opts...)...)
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			var err error
			if tt.call == "read" {
				_, err = client.GetBook(ctx, connect.NewRequest(&catalogv1.GetBookRequest{Id: "0190b6a0-0000-7000-8000-000000000001"}))
			} else {
				_, err = client.CreateBook(ctx, connect.NewRequest(&catalogv1.CreateBookRequest{Book: &catalogv1.BookInput{Title: "Imported"}}))
			}
			elapsed := time.Since(start)
			if connect.CodeOf(err) != tt.wantCode && !(tt.wantCode == 0 && err == nil) {
				t.Fatalf("err = %v, want code %v", err, tt.wantCode)
			}
			if tt.wantCode == 0 && err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			if got := s.attempts(); got != tt.wantAttempts {
				t.Fatalf("%d attempts, want %d", got, tt.wantAttempts)
			}
			if tt.minGap > 0 && s.gap() < tt.minGap {
				t.Fatalf("retried after %s, before the server's %s", s.gap(), tt.minGap)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Fatalf("took %s, want at most %s", elapsed, tt.maxElapsed)
			}
		})
	}
}

// TestRetryStopsWhenContextIsCancelled cancels the context while the client
// waits for the server's delay: the call returns at once.
func TestRetryStopsWhenContextIsCancelled(t *testing.T) {
	s := &script{errs: []error{exhausted(5 * time.Second)}}
	client := bookworm.NewCatalogClient(serve(t, s))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := client.CreateBook(ctx, connect.NewRequest(&catalogv1.CreateBookRequest{}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("err = %v, want the last resource_exhausted", err)
	}
	if d := time.Since(start); d > 2*time.Second || s.attempts() != 1 {
		t.Fatalf("returned after %s and %d attempts, want soon after the cancel and 1", d, s.attempts())
	}
}

// TestRatingClient calls the rating service through the SDK: the token is
// sent, and a rate-limited write succeeds after the server's delay.
func TestRatingClient(t *testing.T) {
	s := &script{errs: []error{exhausted(20 * time.Millisecond)}}
	base := serve(t, s)
	client := bookworm.NewRatingClient(base, bookworm.WithToken("reader-token"))
	res, err := client.CreateReview(context.Background(), connect.NewRequest(&ratingv1.CreateReviewRequest{
		BookId: "0190b6a0-0000-7000-8000-000000000001", Review: &ratingv1.ReviewInput{Stars: 4, Title: "Good"}}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetReview().GetStars() != 4 || s.attempts() != 2 {
		t.Fatalf("review %v after %d attempts", res.Msg.GetReview(), s.attempts())
	}
	sum, err := client.GetRatingSummary(context.Background(), connect.NewRequest(&ratingv1.GetRatingSummaryRequest{BookId: "b"}))
	if err != nil || sum.Msg.GetSummary().GetCount() != 2 {
		t.Fatalf("summary %v, %v", sum, err)
	}
}

func TestRetryDelay(t *testing.T) {
	var ce *connect.Error
	errors.As(exhausted(1500*time.Millisecond), &ce)
	if d, ok := bookworm.RetryDelay(ce); !ok || d != 1500*time.Millisecond {
		t.Fatalf("RetryDelay = %s, %v", d, ok)
	}
	plain := connect.NewError(connect.CodeResourceExhausted, errors.New("slow down"))
	if _, ok := bookworm.RetryDelay(plain); ok {
		t.Fatal("a delay found in an error without one")
	}
	plain.Meta().Set("Retry-After", "3")
	if d, ok := bookworm.RetryDelay(plain); !ok || d != 3*time.Second {
		t.Fatalf("Retry-After: %s, %v", d, ok)
	}
}
