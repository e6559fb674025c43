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

	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
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

func bearer(source func(context.Context) (string, error)) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			token, err := source(ctx)
			if err != nil {
				return nil, connect.NewError(connect.CodeUnauthenticated, err)
			}
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}
