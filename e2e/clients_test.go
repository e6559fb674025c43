package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// protocol is one way a client can reach the server.
type protocol string

// The protocols every shared case runs through.
const (
	// connectJSON is the Connect protocol with JSON bodies over HTTP/1.1.
	connectJSON protocol = "connect-json"
	// connectProto is the Connect protocol with binary bodies over h2c.
	connectProto protocol = "connect-proto"
	// connectGet is connectProto over HTTP/1.1 that sends the reads as GET.
	connectGet protocol = "connect-get"
	// grpcProto is the generated client in gRPC mode over h2c.
	grpcProto protocol = "grpc"
	// grpcWeb is the generated client in gRPC-Web mode over HTTP/1.1.
	grpcWeb protocol = "grpc-web"
	// grpcGo is google.golang.org/grpc's client, for service callers.
	grpcGo protocol = "grpc-go"
)

var allProtocols = []protocol{connectJSON, connectProto, connectGet, grpcProto, grpcWeb, grpcGo}

// clientOptions say how to build a client.
type clientOptions struct {
	Protocol protocol
	// Token, when set, is sent as "Authorization: Bearer <Token>" on every
	// call.
	Token string
}

// catalogClient is the client the shared cases use: protocol p with the
// admin token (when the harness has one) on every call.
func catalogClient(t *testing.T, p protocol) catalogv1connect.CatalogServiceClient {
	t.Helper()
	return newCatalogClient(t, clientOptions{Protocol: p, Token: adminToken})
}

// newCatalogClient is the one place clients of the catalog are built.
func newCatalogClient(t *testing.T, o clientOptions) catalogv1connect.CatalogServiceClient {
	t.Helper()
	if o.Protocol == grpcGo {
		conn := grpcConn(t)
		return &grpcGoClient{conn: conn, token: o.Token}
	}
	httpClient, opts := connectOptions(t, o)
	return catalogv1connect.NewCatalogServiceClient(httpClient, srv.baseURL, opts...)
}

// bearer sets the Authorization header on every request.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// http1Client speaks HTTP/1.1 only.
func http1Client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h2cClient speaks HTTP/2 over cleartext TCP with prior knowledge, as gRPC
// clients do.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Proxy: nil, Protocols: &protocols}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// grpcConn dials the server with grpc-go over plain HTTP/2.
func grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// grpcGoClient implements the generated client interface on top of
// grpc.ClientConn.Invoke and the generated message types, so the shared
// cases run unchanged through grpc-go. Status errors become *connect.Error
// with the same code and details.
type grpcGoClient struct {
	conn  *grpc.ClientConn
	token string
}

var _ catalogv1connect.CatalogServiceClient = (*grpcGoClient)(nil)

const catalogServicePath = "/" + catalogv1connect.CatalogServiceName + "/"

func invoke[Req, Res any, PRes interface {
	*Res
	proto.Message
}](ctx context.Context, g *grpcGoClient, method string, req *connect.Request[Req]) (*connect.Response[Res], error) {
	md := metadata.MD{}
	for k, vs := range req.Header() {
		md.Append(strings.ToLower(k), vs...)
	}
	if g.token != "" {
		md.Set("authorization", "Bearer "+g.token)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	var header, trailer metadata.MD
	res := PRes(new(Res))
	err := g.conn.Invoke(ctx, catalogServicePath+method, req.Msg, res, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return nil, connectError(err)
	}
	out := connect.NewResponse((*Res)(res))
	for k, vs := range header {
		for _, v := range vs {
			out.Header().Add(k, v)
		}
	}
	return out, nil
}

// connectError turns a grpc-go status error into the *connect.Error the
// generated client would have returned.
func connectError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return connect.NewError(connect.CodeUnknown, err)
	}
	ce := connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	for _, a := range st.Proto().GetDetails() {
		d, derr := connect.NewErrorDetail(a)
		if derr == nil {
			ce.AddDetail(d)
		}
	}
	return ce
}

// The methods below only name the RPC.

func (g *grpcGoClient) CreateBook(ctx context.Context, r *connect.Request[catalogv1.CreateBookRequest]) (*connect.Response[catalogv1.CreateBookResponse], error) {
	return invoke[catalogv1.CreateBookRequest, catalogv1.CreateBookResponse](ctx, g, "CreateBook", r)
}

func (g *grpcGoClient) GetBook(ctx context.Context, r *connect.Request[catalogv1.GetBookRequest]) (*connect.Response[catalogv1.GetBookResponse], error) {
	return invoke[catalogv1.GetBookRequest, catalogv1.GetBookResponse](ctx, g, "GetBook", r)
}

func (g *grpcGoClient) BatchGetBooks(ctx context.Context, r *connect.Request[catalogv1.BatchGetBooksRequest]) (*connect.Response[catalogv1.BatchGetBooksResponse], error) {
	return invoke[catalogv1.BatchGetBooksRequest, catalogv1.BatchGetBooksResponse](ctx, g, "BatchGetBooks", r)
}

func (g *grpcGoClient) ListBooks(ctx context.Context, r *connect.Request[catalogv1.ListBooksRequest]) (*connect.Response[catalogv1.ListBooksResponse], error) {
	return invoke[catalogv1.ListBooksRequest, catalogv1.ListBooksResponse](ctx, g, "ListBooks", r)
}

func (g *grpcGoClient) ListSimilarBooks(ctx context.Context, r *connect.Request[catalogv1.ListSimilarBooksRequest]) (*connect.Response[catalogv1.ListSimilarBooksResponse], error) {
	return invoke[catalogv1.ListSimilarBooksRequest, catalogv1.ListSimilarBooksResponse](ctx, g, "ListSimilarBooks", r)
}

func (g *grpcGoClient) SearchBooks(ctx context.Context, r *connect.Request[catalogv1.SearchBooksRequest]) (*connect.Response[catalogv1.SearchBooksResponse], error) {
	return invoke[catalogv1.SearchBooksRequest, catalogv1.SearchBooksResponse](ctx, g, "SearchBooks", r)
}

func (g *grpcGoClient) UpdateBook(ctx context.Context, r *connect.Request[catalogv1.UpdateBookRequest]) (*connect.Response[catalogv1.UpdateBookResponse], error) {
	return invoke[catalogv1.UpdateBookRequest, catalogv1.UpdateBookResponse](ctx, g, "UpdateBook", r)
}

func (g *grpcGoClient) DeleteBook(ctx context.Context, r *connect.Request[catalogv1.DeleteBookRequest]) (*connect.Response[catalogv1.DeleteBookResponse], error) {
	return invoke[catalogv1.DeleteBookRequest, catalogv1.DeleteBookResponse](ctx, g, "DeleteBook", r)
}

func (g *grpcGoClient) CreateAuthor(ctx context.Context, r *connect.Request[catalogv1.CreateAuthorRequest]) (*connect.Response[catalogv1.CreateAuthorResponse], error) {
	return invoke[catalogv1.CreateAuthorRequest, catalogv1.CreateAuthorResponse](ctx, g, "CreateAuthor", r)
}

func (g *grpcGoClient) GetAuthor(ctx context.Context, r *connect.Request[catalogv1.GetAuthorRequest]) (*connect.Response[catalogv1.GetAuthorResponse], error) {
	return invoke[catalogv1.GetAuthorRequest, catalogv1.GetAuthorResponse](ctx, g, "GetAuthor", r)
}

func (g *grpcGoClient) ListAuthors(ctx context.Context, r *connect.Request[catalogv1.ListAuthorsRequest]) (*connect.Response[catalogv1.ListAuthorsResponse], error) {
	return invoke[catalogv1.ListAuthorsRequest, catalogv1.ListAuthorsResponse](ctx, g, "ListAuthors", r)
}

func (g *grpcGoClient) UpdateAuthor(ctx context.Context, r *connect.Request[catalogv1.UpdateAuthorRequest]) (*connect.Response[catalogv1.UpdateAuthorResponse], error) {
	return invoke[catalogv1.UpdateAuthorRequest, catalogv1.UpdateAuthorResponse](ctx, g, "UpdateAuthor", r)
}

func (g *grpcGoClient) DeleteAuthor(ctx context.Context, r *connect.Request[catalogv1.DeleteAuthorRequest]) (*connect.Response[catalogv1.DeleteAuthorResponse], error) {
	return invoke[catalogv1.DeleteAuthorRequest, catalogv1.DeleteAuthorResponse](ctx, g, "DeleteAuthor", r)
}

func (g *grpcGoClient) CreateCategory(ctx context.Context, r *connect.Request[catalogv1.CreateCategoryRequest]) (*connect.Response[catalogv1.CreateCategoryResponse], error) {
	return invoke[catalogv1.CreateCategoryRequest, catalogv1.CreateCategoryResponse](ctx, g, "CreateCategory", r)
}

func (g *grpcGoClient) GetCategory(ctx context.Context, r *connect.Request[catalogv1.GetCategoryRequest]) (*connect.Response[catalogv1.GetCategoryResponse], error) {
	return invoke[catalogv1.GetCategoryRequest, catalogv1.GetCategoryResponse](ctx, g, "GetCategory", r)
}

func (g *grpcGoClient) ListCategories(ctx context.Context, r *connect.Request[catalogv1.ListCategoriesRequest]) (*connect.Response[catalogv1.ListCategoriesResponse], error) {
	return invoke[catalogv1.ListCategoriesRequest, catalogv1.ListCategoriesResponse](ctx, g, "ListCategories", r)
}

func (g *grpcGoClient) UpdateCategory(ctx context.Context, r *connect.Request[catalogv1.UpdateCategoryRequest]) (*connect.Response[catalogv1.UpdateCategoryResponse], error) {
	return invoke[catalogv1.UpdateCategoryRequest, catalogv1.UpdateCategoryResponse](ctx, g, "UpdateCategory", r)
}

func (g *grpcGoClient) DeleteCategory(ctx context.Context, r *connect.Request[catalogv1.DeleteCategoryRequest]) (*connect.Response[catalogv1.DeleteCategoryResponse], error) {
	return invoke[catalogv1.DeleteCategoryRequest, catalogv1.DeleteCategoryResponse](ctx, g, "DeleteCategory", r)
}

func (g *grpcGoClient) CreatePublisher(ctx context.Context, r *connect.Request[catalogv1.CreatePublisherRequest]) (*connect.Response[catalogv1.CreatePublisherResponse], error) {
	return invoke[catalogv1.CreatePublisherRequest, catalogv1.CreatePublisherResponse](ctx, g, "CreatePublisher", r)
}

func (g *grpcGoClient) GetPublisher(ctx context.Context, r *connect.Request[catalogv1.GetPublisherRequest]) (*connect.Response[catalogv1.GetPublisherResponse], error) {
	return invoke[catalogv1.GetPublisherRequest, catalogv1.GetPublisherResponse](ctx, g, "GetPublisher", r)
}

func (g *grpcGoClient) ListPublishers(ctx context.Context, r *connect.Request[catalogv1.ListPublishersRequest]) (*connect.Response[catalogv1.ListPublishersResponse], error) {
	return invoke[catalogv1.ListPublishersRequest, catalogv1.ListPublishersResponse](ctx, g, "ListPublishers", r)
}

func (g *grpcGoClient) UpdatePublisher(ctx context.Context, r *connect.Request[catalogv1.UpdatePublisherRequest]) (*connect.Response[catalogv1.UpdatePublisherResponse], error) {
	return invoke[catalogv1.UpdatePublisherRequest, catalogv1.UpdatePublisherResponse](ctx, g, "UpdatePublisher", r)
}

func (g *grpcGoClient) DeletePublisher(ctx context.Context, r *connect.Request[catalogv1.DeletePublisherRequest]) (*connect.Response[catalogv1.DeletePublisherResponse], error) {
	return invoke[catalogv1.DeletePublisherRequest, catalogv1.DeletePublisherResponse](ctx, g, "DeletePublisher", r)
}
