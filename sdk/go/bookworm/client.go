// Package bookworm is the hand-written part of BookWorm's Go SDK: clients
// configured for the BookWorm API (protocol, bearer token, retries) and
// helpers for exact money. The generated messages and service clients live
// in the gen packages beside it.
package bookworm

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1/assistantv1connect"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// Protocol is the wire protocol a client speaks. The server answers all three.
type Protocol int

// The protocols.
const (
	// Connect over HTTP/1.1 or HTTP/2, JSON or binary; the default.
	Connect Protocol = iota
	// GRPC over HTTP/2 (cleartext when the URL is http://).
	GRPC
	// GRPCWeb is gRPC-Web, as browsers speak it.
	GRPCWeb
)

type options struct {
	protocol   Protocol
	json       bool
	token      func(context.Context) (string, error)
	httpClient connect.HTTPClient
	retry      *RetryPolicy // nil: no retries
	extra      []connect.ClientOption
}

// Option configures a client.
type Option func(*options)

// WithProtocol selects the wire protocol.
func WithProtocol(p Protocol) Option { return func(o *options) { o.protocol = p } }

// WithJSON sends JSON instead of binary protobuf (Connect and gRPC-Web).
func WithJSON() Option { return func(o *options) { o.json = true } }

// WithToken sends "Authorization: Bearer <token>" on every call.
func WithToken(token string) Option {
	return WithTokenSource(func(context.Context) (string, error) { return token, nil })
}

// WithTokenSource asks source for the bearer token before every call, so a
// caller can refresh tokens (for example with golang.org/x/oauth2).
func WithTokenSource(source func(context.Context) (string, error)) Option {
	return func(o *options) { o.token = source }
}

// WithHTTPClient uses c instead of the default client.
func WithHTTPClient(c connect.HTTPClient) Option { return func(o *options) { o.httpClient = c } }

// WithRetry replaces the default retry policy (DefaultRetryPolicy) of the
// client. See RetryPolicy for which calls are retried.
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = &p } }

// WithoutRetry turns retries off: every error reaches the caller at once.
func WithoutRetry() Option { return func(o *options) { o.retry = nil } }

// WithClientOptions passes further connect options (interceptors, compression).
func WithClientOptions(opts ...connect.ClientOption) Option {
	return func(o *options) { o.extra = append(o.extra, opts...) }
}

// NewCatalogClient returns a client of bookworm.catalog.v1.CatalogService at
// baseURL (for example "http://127.0.0.1:8080"). It retries as
// DefaultRetryPolicy says unless told otherwise (WithRetry, WithoutRetry).
func NewCatalogClient(baseURL string, opts ...Option) catalogv1connect.CatalogServiceClient {
	client, url, copts := build(baseURL, opts)
	return catalogv1connect.NewCatalogServiceClient(client, url, copts...)
}

// NewRatingClient returns a client of bookworm.rating.v1.RatingService at
// baseURL, configured as NewCatalogClient's.
func NewRatingClient(baseURL string, opts ...Option) ratingv1connect.RatingServiceClient {
	client, url, copts := build(baseURL, opts)
	return ratingv1connect.NewRatingServiceClient(client, url, copts...)
}

// NewBasketClient returns a client of bookworm.basket.v1.BasketService (the
// signed-in caller's own basket: give it WithToken) at baseURL, configured
// as NewCatalogClient's.
func NewBasketClient(baseURL string, opts ...Option) basketv1connect.BasketServiceClient {
	client, url, copts := build(baseURL, opts)
	return basketv1connect.NewBasketServiceClient(client, url, copts...)
}

// NewOrderingClient returns a client of bookworm.ordering.v1.OrderingService
// at baseURL, configured as NewCatalogClient's. Its token reaches the
// WatchOrder stream too.
func NewOrderingClient(baseURL string, opts ...Option) orderingv1connect.OrderingServiceClient {
	client, url, copts := build(baseURL, opts)
	return orderingv1connect.NewOrderingServiceClient(client, url, copts...)
}

// NewAssistantClient returns a client of bookworm.assistant.v1.AssistantService
// at baseURL, configured as NewCatalogClient's. Its token reaches the Chat
// stream too.
func NewAssistantClient(baseURL string, opts ...Option) assistantv1connect.AssistantServiceClient {
	client, url, copts := build(baseURL, opts)
	return assistantv1connect.NewAssistantServiceClient(client, url, copts...)
}

// build turns opts into what a generated client constructor takes.
func build(baseURL string, opts []Option) (connect.HTTPClient, string, []connect.ClientOption) {
	def := DefaultRetryPolicy()
	o := options{retry: &def}
	for _, opt := range opts {
		opt(&o)
	}
	var copts []connect.ClientOption
	switch o.protocol {
	case GRPC:
		copts = append(copts, connect.WithGRPC())
	case GRPCWeb:
		copts = append(copts, connect.WithGRPCWeb())
	}
	if o.json {
		copts = append(copts, connect.WithProtoJSON())
	}
	// Reads are marked side-effect free in the contract: Connect sends them as
	// cacheable HTTP GETs.
	copts = append(copts, connect.WithHTTPGet())
	// The retry interceptor goes first, the outermost layer: every attempt
	// then passes through the token source again (a refreshed token).
	if o.retry != nil {
		copts = append(copts, connect.WithInterceptors(NewRetryInterceptor(*o.retry)))
	}
	if o.token != nil {
		copts = append(copts, connect.WithInterceptors(bearer(o.token)))
	}
	copts = append(copts, o.extra...)
	client := o.httpClient
	if client == nil {
		client = defaultHTTPClient(baseURL, o.protocol == GRPC)
	}
	return client, strings.TrimRight(baseURL, "/"), copts
}

// defaultHTTPClient speaks HTTP/2 without TLS (h2c) to http:// URLs when
// gRPC needs it; over https:// HTTP/2 is negotiated by ALPN.
func defaultHTTPClient(baseURL string, needH2 bool) *http.Client {
	if !needH2 || !strings.HasPrefix(baseURL, "http://") {
		return http.DefaultClient
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &protocols}}
}

// bearer sets the Authorization header on every call: unary calls and
// streams (WatchOrder, Chat) alike.
type bearer func(context.Context) (string, error)

// WrapUnary implements connect.Interceptor.
func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		token, err := b(ctx)
		if err != nil {
			return nil, connect.NewError(connect.CodeUnauthenticated, err)
		}
		if token != "" {
			req.Header().Set("Authorization", "Bearer "+token)
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor: the token is asked
// for when the stream opens; a token source that fails ends the stream
// with Unauthenticated before anything is sent.
func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		token, err := b(ctx)
		if err != nil {
			return &failedStream{StreamingClientConn: conn, err: connect.NewError(connect.CodeUnauthenticated, err)}
		}
		if token != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+token)
		}
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor (a client option: unused).
func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// failedStream is a stream whose token could not be had: it sends nothing
// and answers err.
type failedStream struct {
	connect.StreamingClientConn
	err error
}

func (f *failedStream) Send(any) error       { return f.err }
func (f *failedStream) Receive(any) error    { return f.err }
func (f *failedStream) CloseRequest() error  { return nil }
func (f *failedStream) CloseResponse() error { return nil }
