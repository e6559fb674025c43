package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	authv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/auth/v1"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// testService is a service built at run time, with methods the real
// contract must never have (no rule, a contradictory rule), a rule for any
// signed-in user and a server stream.
var testService = func() protoreflect.ServiceDescriptor {
	rule := func(r *authv1.AccessRule) *descriptorpb.MethodOptions {
		o := &descriptorpb.MethodOptions{}
		proto.SetExtension(o, authv1.E_Access, r)
		return o
	}
	method := func(name string, opts *descriptorpb.MethodOptions, stream bool) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".google.protobuf.StringValue"),
			OutputType: proto.String(".google.protobuf.StringValue"), Options: opts, ServerStreaming: proto.Bool(stream),
		}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("authtest/v1/test.proto"),
		Package:    proto.String("authtest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("TestService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("NoRule", nil, false),
				method("Contradiction", rule(&authv1.AccessRule{Public: true, Roles: []string{"admin"}}), false),
				method("AnyUser", rule(&authv1.AccessRule{}), false),
				method("Watch", rule(&authv1.AccessRule{Roles: []string{"admin"}}), true),
			},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd.Services().Get(0)
}()

// stubCatalog answers GetBook and CreateBook with the caller the core sees.
type stubCatalog struct {
	catalogv1connect.UnimplementedCatalogServiceHandler
}

func (stubCatalog) GetBook(ctx context.Context, _ *connect.Request[catalogv1.GetBookRequest]) (*connect.Response[catalogv1.GetBookResponse], error) {
	p, _ := identity.FromContext(ctx)
	return connect.NewResponse(&catalogv1.GetBookResponse{Book: &catalogv1.Book{Id: p.String()}}), nil
}

func (stubCatalog) CreateBook(ctx context.Context, _ *connect.Request[catalogv1.CreateBookRequest]) (*connect.Response[catalogv1.CreateBookResponse], error) {
	p, _ := identity.FromContext(ctx)
	return connect.NewResponse(&catalogv1.CreateBookResponse{Book: &catalogv1.Book{Id: p.String()}}), nil
}

func caller(ctx context.Context) *connect.Response[wrapperspb.StringValue] {
	p, _ := identity.FromContext(ctx)
	return connect.NewResponse(wrapperspb.String(p.String()))
}

// server serves the catalog stub and the test service behind interceptors.
func server(t testing.TB, interceptors ...connect.Interceptor) string {
	t.Helper()
	opts := connect.WithInterceptors(interceptors...)
	mux := http.NewServeMux()
	mux.Handle(catalogv1connect.NewCatalogServiceHandler(stubCatalog{}, opts))
	methods := testService.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		path := "/" + string(testService.FullName()) + "/" + string(m.Name())
		if m.IsStreamingServer() {
			mux.Handle(path, connect.NewServerStreamHandler(path,
				func(ctx context.Context, _ *connect.Request[wrapperspb.StringValue], s *connect.ServerStream[wrapperspb.StringValue]) error {
					return s.Send(caller(ctx).Msg)
				}, connect.WithSchema(m), opts))
			continue
		}
		mux.Handle(path, connect.NewUnaryHandler(path,
			func(ctx context.Context, _ *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
				return caller(ctx), nil
			}, connect.WithSchema(m), opts))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// call invokes procedure with the given Authorization header values and
// returns the answer's code (0 for success) and the caller the handler saw.
func call(t *testing.T, base, procedure string, auth ...string) (connect.Code, string, *connect.Error) {
	t.Helper()
	ctx := context.Background()
	setAuth := func(h http.Header) {
		for _, a := range auth {
			h.Add("Authorization", a)
		}
	}
	var (
		got string
		err error
	)
	switch procedure {
	case catalogv1connect.CatalogServiceGetBookProcedure:
		c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
		req := connect.NewRequest(&catalogv1.GetBookRequest{Id: "x"})
		setAuth(req.Header())
		var res *connect.Response[catalogv1.GetBookResponse]
		if res, err = c.GetBook(ctx, req); err == nil {
			got = res.Msg.GetBook().GetId()
		}
	case catalogv1connect.CatalogServiceCreateBookProcedure:
		c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
		req := connect.NewRequest(&catalogv1.CreateBookRequest{})
		setAuth(req.Header())
		var res *connect.Response[catalogv1.CreateBookResponse]
		if res, err = c.CreateBook(ctx, req); err == nil {
			got = res.Msg.GetBook().GetId()
		}
	case "/authtest.v1.TestService/Watch":
		c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](http.DefaultClient, base+procedure)
		req := connect.NewRequest(wrapperspb.String(""))
		setAuth(req.Header())
		var s *connect.ServerStreamForClient[wrapperspb.StringValue]
		if s, err = c.CallServerStream(ctx, req); err == nil {
			for s.Receive() {
				got = s.Msg().GetValue()
			}
			err = s.Err()
			s.Close()
		}
	default:
		c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](http.DefaultClient, base+procedure)
		req := connect.NewRequest(wrapperspb.String(""))
		setAuth(req.Header())
		var res *connect.Response[wrapperspb.StringValue]
		if res, err = c.CallUnary(ctx, req); err == nil {
			got = res.Msg.GetValue()
		}
	}
	if err == nil {
		return 0, got, nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: not a connect error: %v", procedure, err)
	}
	return ce.Code(), "", ce
}

func TestInterceptorMatrix(t *testing.T) {
	f := newFixture(t)
	base := server(t, NewInterceptor(f.v, slog.New(slog.DiscardHandler)))
	now := f.clock.Now()
	ec := f.iss.Current(jose.ES256)
	user := f.iss.Token(t, jose.RS256, "alice", testAudience, "user")
	admin := f.iss.Token(t, jose.ES256, "root", testAudience, "user", "admin")
	expired := f.iss.Sign(t, ec, with(f.iss.Claims("root", testAudience, "admin"), "exp", now.Add(-2*time.Hour).Unix()))
	other := authtest.NewIssuer(t).Token(t, jose.ES256, "root", testAudience, "admin")
	wrongAud := f.iss.Token(t, jose.ES256, "root", "another-api", "admin")
	badSig := authtest.BreakSignature(admin)
	none := authtest.AlgNone(f.iss.Claims("root", testAudience, "admin"), ec.ID)
	hmacForgery := authtest.HMAC(f.iss.Claims("root", testAudience, "admin"), ec.ID, authtest.PublicPEM(ec))

	const (
		ok     = connect.Code(0)
		unauth = connect.CodeUnauthenticated
		denied = connect.CodePermissionDenied
	)
	type want struct{ public, admin, anyUser, noRule, contradiction, stream connect.Code }
	callers := []struct {
		name   string
		auth   []string
		who    string // the caller the handler must see on success
		expect want
	}{
		{"anonymous", nil, "anonymous", want{ok, unauth, unauth, denied, denied, unauth}},
		{"user", []string{"Bearer " + user}, "user:alice", want{ok, denied, ok, denied, denied, denied}},
		{"admin", []string{"Bearer " + admin}, "user:root", want{ok, ok, ok, denied, denied, ok}},
		{"lower-case scheme", []string{"bearer " + admin}, "user:root", want{ok, ok, ok, denied, denied, ok}},
		{"expired", []string{"Bearer " + expired}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"another issuer", []string{"Bearer " + other}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"wrong audience", []string{"Bearer " + wrongAud}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"bad signature", []string{"Bearer " + badSig}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"alg none", []string{"Bearer " + none}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"HMAC forgery", []string{"Bearer " + hmacForgery}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"basic scheme", []string{"Basic cm9vdDpyb290"}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"empty bearer", []string{"Bearer "}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
		{"two headers", []string{"Bearer " + admin, "Bearer " + user}, "", want{unauth, unauth, unauth, denied, denied, unauth}},
	}
	procedures := []struct {
		name string
		pick func(want) connect.Code
	}{
		{catalogv1connect.CatalogServiceGetBookProcedure, func(w want) connect.Code { return w.public }},
		{catalogv1connect.CatalogServiceCreateBookProcedure, func(w want) connect.Code { return w.admin }},
		{"/authtest.v1.TestService/AnyUser", func(w want) connect.Code { return w.anyUser }},
		{"/authtest.v1.TestService/NoRule", func(w want) connect.Code { return w.noRule }},
		{"/authtest.v1.TestService/Contradiction", func(w want) connect.Code { return w.contradiction }},
		{"/authtest.v1.TestService/Watch", func(w want) connect.Code { return w.stream }},
	}
	for _, c := range callers {
		for _, p := range procedures {
			t.Run(c.name+p.name, func(t *testing.T) {
				code, who, ce := call(t, base, p.name, c.auth...)
				if want := p.pick(c.expect); code != want {
					t.Fatalf("code = %v, want %v (%v)", code, want, ce)
				}
				if code == 0 && who != c.who {
					t.Fatalf("handler saw %q, want %q", who, c.who)
				}
				if code == unauth && ce.Meta().Get("WWW-Authenticate") == "" {
					t.Fatal("Unauthenticated without WWW-Authenticate")
				}
				if ce != nil && (strings.Contains(ce.Message(), f.iss.URL) || strings.Contains(ce.Message(), testAudience)) {
					t.Fatalf("error leaks configuration: %q", ce.Message())
				}
			})
		}
	}
}

func TestInterceptorPassesClients(t *testing.T) {
	// Installed on a client (the same option set may be shared), the
	// interceptor must not demand tokens from the server's answers.
	f := newFixture(t)
	base := server(t)
	c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base,
		connect.WithInterceptors(NewInterceptor(f.v, nil)))
	if _, err := c.GetBook(context.Background(), connect.NewRequest(&catalogv1.GetBookRequest{Id: "x"})); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRules(t *testing.T) {
	if err := CheckRules(catalogv1.File_bookworm_catalog_v1_catalog_proto.Services().Get(0)); err != nil {
		t.Fatalf("catalog: %v", err)
	}
	err := CheckRules(testService)
	if err == nil {
		t.Fatal("CheckRules passed a service with unruled methods")
	}
	for _, name := range []string{"authtest.v1.TestService.NoRule", "authtest.v1.TestService.Contradiction"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("CheckRules does not name %s: %v", name, err)
		}
	}
	for _, name := range []string{"AnyUser", "Watch"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("CheckRules names ruled method %s: %v", name, err)
		}
	}
}
