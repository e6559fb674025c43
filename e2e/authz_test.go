package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	authv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/auth/v1"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// servedServices asks the running server, through gRPC reflection, which
// services it serves, and returns their descriptors (health and reflection
// aside). Asking the server rather than a list in the code means a service
// mounted later is covered without anyone remembering to add it here.
func servedServices(t *testing.T, s *server) []protoreflect.ServiceDescriptor {
	t.Helper()
	stream := grpcreflect.NewClient(h2cClient(t), s.baseURL).NewStream(context.Background())
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if _, err := stream.Close(); err != nil {
		t.Fatalf("reflection: %v", err)
	}
	var out []protoreflect.ServiceDescriptor
	for _, name := range names {
		if strings.HasPrefix(string(name), "grpc.health.") || strings.HasPrefix(string(name), "grpc.reflection.") {
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("the server serves %s, which this test binary does not know: import its generated package here", name)
		}
		out = append(out, d.(protoreflect.ServiceDescriptor))
	}
	if !slices.ContainsFunc(out, func(sd protoreflect.ServiceDescriptor) bool {
		return sd.FullName() == catalogv1connect.CatalogServiceName
	}) {
		t.Fatalf("the catalog is not among the served services %v", names)
	}
	return out
}

// TestEveryServedMethodHasARule fails when an RPC the server serves has no
// access rule (or a contradictory one). The server would refuse every call
// to it; this test makes the omission a red build instead.
func TestEveryServedMethodHasARule(t *testing.T) {
	if err := auth.CheckRules(servedServices(t, srv)...); err != nil {
		t.Fatalf("methods without a usable (bookworm.auth.v1.access) rule:\n%v", err)
	}
}

// accessRule reads a method's rule from the contract.
func accessRule(t *testing.T, m protoreflect.MethodDescriptor) *authv1.AccessRule {
	t.Helper()
	if !proto.HasExtension(m.Options(), authv1.E_Access) {
		t.Fatalf("%s has no access rule", m.FullName())
	}
	return proto.GetExtension(m.Options(), authv1.E_Access).(*authv1.AccessRule)
}

// callAny calls method with an empty request message over protocol p and
// returns the resulting code (0 for success). An empty request is enough:
// authorization comes before validation, and refused or invalid writes
// change nothing.
func callAny(t *testing.T, s *server, p protocol, m protoreflect.MethodDescriptor, token string) connect.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
	if p == grpcGo {
		if m.IsStreamingClient() || m.IsStreamingServer() {
			t.Fatalf("%s: extend callAny to streams over grpc-go", path)
		}
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		err := grpcConn(t).Invoke(ctx, path, &emptypb.Empty{}, &emptypb.Empty{}, grpc.WaitForReady(true))
		return connect.CodeOf(connectError(err))
	}
	httpClient := http1Client(t)
	var opts []connect.ClientOption
	switch p {
	case connectJSON:
		opts = append(opts, connect.WithProtoJSON())
	case connectProto:
		httpClient = h2cClient(t)
	case grpcProto:
		httpClient = h2cClient(t)
		opts = append(opts, connect.WithGRPC())
	case grpcWeb:
		opts = append(opts, connect.WithGRPCWeb())
	default:
		t.Fatalf("callAny: protocol %s", p)
	}
	if token != "" {
		opts = append(opts, connect.WithInterceptors(bearerAll(token)))
	}
	c := connect.NewClient[emptypb.Empty, emptypb.Empty](httpClient, s.baseURL+path, opts...)
	var err error
	switch {
	case m.IsStreamingClient() && m.IsStreamingServer():
		st := c.CallBidiStream(ctx)
		if err = st.CloseRequest(); err == nil {
			for {
				if _, err = st.Receive(); err != nil {
					break
				}
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		_ = st.CloseResponse()
	case m.IsStreamingClient():
		_, err = c.CallClientStream(ctx).CloseAndReceive()
	case m.IsStreamingServer():
		var st *connect.ServerStreamForClient[emptypb.Empty]
		if st, err = c.CallServerStream(ctx, connect.NewRequest(&emptypb.Empty{})); err == nil {
			for st.Receive() {
			}
			err = st.Err()
			_ = st.Close()
		}
	default:
		_, err = c.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
	}
	if err == nil {
		return 0
	}
	return connect.CodeOf(err)
}

// bearerAll sets the Authorization header on unary and streaming calls.
type bearerAll string

func (b bearerAll) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearerAll) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearerAll) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// authOutcome is what a caller may expect from a method.
type authOutcome int

const (
	passes          authOutcome = iota // authorized: the method's own answer
	unauthenticated                    // Unauthenticated
	denied                             // PermissionDenied
)

// matrixCaller is one row of the authorization matrix.
type matrixCaller struct {
	name   string
	token  string
	expect func(rule *authv1.AccessRule) authOutcome
}

// signedIn is the outcome for a valid token holding roles.
func signedIn(roles ...string) func(*authv1.AccessRule) authOutcome {
	return func(r *authv1.AccessRule) authOutcome {
		if r.GetPublic() || len(r.GetRoles()) == 0 {
			return passes
		}
		for _, role := range roles {
			if slices.Contains(r.GetRoles(), role) {
				return passes
			}
		}
		return denied
	}
}

func alwaysUnauthenticated(*authv1.AccessRule) authOutcome { return unauthenticated }

// TestAuthorizationMatrix calls every RPC of every served service as every
// kind of caller, over every protocol, and checks the exact code: Unauthenticated
// or PermissionDenied where the rule refuses, and otherwise exactly the code
// the admin gets (the method's own answer to an empty request, never an
// authorization code).
func TestAuthorizationMatrix(t *testing.T) {
	var methods []protoreflect.MethodDescriptor
	for _, s := range servedServices(t, srv) {
		for i := range s.Methods().Len() {
			methods = append(methods, s.Methods().Get(i))
		}
	}
	now := time.Now()
	ec := issuer.Current(jose.ES256)
	adminClaims := issuer.Claims("e2e-admin", e2eAudience, "user", "admin")
	with := func(kv ...any) map[string]any {
		c := issuer.Claims("e2e-admin", e2eAudience, "user", "admin")
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	sign := func(k authtest.Key, claims map[string]any) string { return authtest.SignWith(t, k, claims) }
	other, err := authtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	rotated, err := authtest.GenerateKey(jose.ES256) // not published yet
	if err != nil {
		t.Fatal(err)
	}
	unknownKid := sign(rotated, adminClaims)

	callers := []matrixCaller{
		{"anonymous", "", signedInAnonymous},
		{"user", issuer.Token(t, jose.RS256, "e2e-user", e2eAudience, "user"), signedIn("user")},
		{"admin", adminToken, signedIn("user", "admin")},
		{"expired token", sign(ec, with("exp", now.Add(-time.Hour).Unix())), alwaysUnauthenticated},
		{"token from another issuer", other.Token(t, jose.ES256, "e2e-admin", e2eAudience, "admin"), alwaysUnauthenticated},
		{"another issuer's key claiming our issuer", sign(other.Current(jose.RS256), adminClaims), alwaysUnauthenticated},
		{"wrong audience", sign(ec, with("aud", "another-api")), alwaysUnauthenticated},
		{"bad signature", authtest.BreakSignature(adminToken), alwaysUnauthenticated},
		{"tampered payload", authtest.Tamper(issuer.Token(t, jose.ES256, "e2e-user", e2eAudience, "user"), adminClaims), alwaysUnauthenticated},
		{"alg none", authtest.AlgNone(adminClaims, ec.ID), alwaysUnauthenticated},
		{"HS256 keyed with the public key", authtest.HMAC(adminClaims, ec.ID, authtest.PublicPEM(ec)), alwaysUnauthenticated},
		{"unknown kid", unknownKid, alwaysUnauthenticated},
	}

	// The admin's answer per method is the reference for "authorized".
	baseline := map[protoreflect.FullName]connect.Code{}
	for _, m := range methods {
		code := callAny(t, srv, connectProto, m, adminToken)
		switch code {
		case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeResourceExhausted,
			connect.CodeUnimplemented, connect.CodeInternal, connect.CodeUnknown:
			t.Fatalf("admin baseline of %s is %v", m.FullName(), code)
		}
		baseline[m.FullName()] = code
	}
	if len(methods) < 21 {
		t.Fatalf("only %d methods served; the catalog alone has 21", len(methods))
	}

	check := func(t *testing.T, c matrixCaller, p protocol) {
		for _, m := range methods {
			if p == grpcGo && (m.IsStreamingClient() || m.IsStreamingServer()) {
				continue
			}
			want := baseline[m.FullName()]
			switch c.expect(accessRule(t, m)) {
			case unauthenticated:
				want = connect.CodeUnauthenticated
			case denied:
				want = connect.CodePermissionDenied
			}
			if got := callAny(t, srv, p, m, c.token); got != want {
				t.Errorf("%s as %s over %s: %v, want %v", m.FullName(), c.name, p, codeName(got), codeName(want))
			}
		}
	}
	protocols := []protocol{connectProto, connectJSON, grpcProto, grpcWeb, grpcGo}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range protocols {
				check(t, c, p)
			}
		})
	}

	// Key rotation: the issuer publishes the key; once the server's refresh
	// interval (1s here) has passed, the unknown kid triggers a refresh and
	// the same token becomes a valid admin token.
	t.Run("unknown kid then rotated key", func(t *testing.T) {
		issuer.Publish(rotated)
		createAuthor := catalogv1.File_bookworm_catalog_v1_catalog_proto.Services().Get(0).Methods().ByName("CreateAuthor")
		deadline := time.Now().Add(30 * time.Second)
		for callAny(t, srv, connectProto, createAuthor, unknownKid) == connect.CodeUnauthenticated {
			if time.Now().After(deadline) {
				t.Fatal("the rotated key is still unknown to the server after 30s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		c := matrixCaller{"rotated key", unknownKid, signedIn("user", "admin")}
		for _, p := range protocols {
			check(t, c, p)
		}
	})
}

// signedInAnonymous is the outcome for a caller without a token.
func signedInAnonymous(r *authv1.AccessRule) authOutcome {
	if r.GetPublic() {
		return passes
	}
	return unauthenticated
}

func codeName(c connect.Code) string {
	if c == 0 {
		return "OK"
	}
	return c.String()
}

// TestCatalogWritesNeedAdmin makes real, valid writes: refused without the
// admin role, done with it. Publisher names are unique, so the admin's
// success shows that the refused attempts created nothing.
func TestCatalogWritesNeedAdmin(t *testing.T) {
	ctx := context.Background()
	anonymous := newCatalogClient(t, clientOptions{Protocol: connectProto})
	user := newCatalogClient(t, clientOptions{Protocol: connectProto, Token: issuer.Token(t, jose.RS256, "e2e-writer", e2eAudience, "user")})
	admin := newCatalogClient(t, clientOptions{Protocol: connectProto, Token: adminToken})
	name := uniq("Authz Press")
	create := func(c catalogv1connect.CatalogServiceClient) (*catalogv1.Publisher, error) {
		res, err := c.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{Name: name}}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetPublisher(), nil
	}
	_, err := create(anonymous)
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = create(user)
	wantCode(t, err, connect.CodePermissionDenied)
	p, err := create(admin)
	if err != nil {
		t.Fatalf("admin CreatePublisher after refused attempts: %v", err)
	}
	// Reads are public.
	res, err := anonymous.GetPublisher(ctx, connect.NewRequest(&catalogv1.GetPublisherRequest{Id: p.GetId()}))
	if err != nil || res.Msg.GetPublisher().GetName() != name {
		t.Fatalf("anonymous GetPublisher: %v, %v", res, err)
	}
}

// TestRateLimit runs a server with small budgets: calls over the budget get
// ResourceExhausted with the delay in a RetryInfo, the signed-in user has a
// budget of their own, writes are counted apart from reads, and after the
// delay calls go through again.
func TestRateLimit(t *testing.T) {
	s := startExtraServer(t, "ratelimit", append(issuerEnv(),
		"BOOKWORM_RATE_ANONYMOUS=read=1,read-burst=3",
		"BOOKWORM_RATE_ADMIN=read=1,read-burst=3,write=1,write-burst=1")...)
	ctx := context.Background()
	client := func(token string) catalogv1connect.CatalogServiceClient {
		var opts []connect.ClientOption
		if token != "" {
			opts = append(opts, connect.WithInterceptors(bearer(token)))
		}
		return catalogv1connect.NewCatalogServiceClient(h2cClient(t), s.baseURL, opts...)
	}
	anonymous, admin := client(""), client(adminToken)
	list := func(c catalogv1connect.CatalogServiceClient) error {
		_, err := c.ListAuthors(ctx, connect.NewRequest(&catalogv1.ListAuthorsRequest{PageSize: 1}))
		return err
	}
	// The burst of 3 goes through; the budget then runs out within a few
	// more calls (a stalled machine may refill a token between two calls,
	// so the test does not insist on the fourth).
	var err error
	served := 0
	for ; served < 20; served++ {
		if err = list(anonymous); err != nil {
			break
		}
	}
	if served < 3 {
		t.Fatalf("only %d anonymous reads of a burst of 3 served", served)
	}
	ce := wantCode(t, err, connect.CodeResourceExhausted)
	if got := ce.Meta().Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After = %q, want 1", got)
	}
	var delay time.Duration
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ri, ok := v.(*errdetails.RetryInfo); ok {
				delay = ri.GetRetryDelay().AsDuration()
			}
		}
	}
	if delay <= 0 || delay > time.Second {
		t.Fatalf("RetryInfo delay %v, want within (0, 1s] at 1 read/s", delay)
	}

	// The admin is a different caller with budgets of its own, and writes
	// do not spend reads. An empty CreateAuthor is invalid but still a call.
	if err := list(admin); err != nil {
		t.Fatalf("admin read while anonymous is limited: %v", err)
	}
	createEmpty := func() error {
		_, err := admin.CreateAuthor(ctx, connect.NewRequest(&catalogv1.CreateAuthorRequest{}))
		return err
	}
	wantCode(t, createEmpty(), connect.CodeInvalidArgument)
	for i := 0; ; i++ {
		err := createEmpty()
		if connect.CodeOf(err) == connect.CodeResourceExhausted {
			break
		}
		wantCode(t, err, connect.CodeInvalidArgument)
		if i == 20 {
			t.Fatal("20 writes over a budget of 1/s with a burst of 1 were all served")
		}
	}
	if err := list(admin); err != nil {
		t.Fatalf("admin read after its writes ran out: %v", err)
	}

	// Recovery: after the announced delay the anonymous caller may read.
	time.Sleep(delay + 50*time.Millisecond)
	if err := list(anonymous); err != nil {
		t.Fatalf("anonymous read after waiting %v: %v", delay, err)
	}
}

// TestDevelopmentIssuer runs the server as in development (no OIDC issuer):
// it serves its own discovery document and JWKS, trusts tokens printed by
// `server dev-token` (as the README shows), and refuses --env prod.
func TestDevelopmentIssuer(t *testing.T) {
	keyFile := serverTmp + "/dev-signing-key.pem"
	s := startExtraServer(t, "dev", "BOOKWORM_DEV_KEY_FILE="+keyFile, "BOOKWORM_CORS_ORIGINS=https://shop.example")
	devToken := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(serverBin, append([]string{"dev-token"}, args...)...)
		cmd.Env = append(environWithout("BOOKWORM_"), "BOOKWORM_ADDR="+s.addr, "BOOKWORM_DEV_KEY_FILE="+keyFile)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dev-token %v: %v\n%s", args, err, stderr.String())
		}
		tok := strings.TrimSuffix(string(out), "\n")
		if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
			t.Fatalf("dev-token printed more than a token: %q", out)
		}
		return tok
	}
	adminTok := devToken("--sub", "dev-admin", "--role", "admin")
	userTok := devToken("--sub", "dev-user", "--role", "user", "--ttl", "5m")

	res, err := http.Get(s.baseURL + "/dev/oidc/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"issuer":"`+s.baseURL+`/dev/oidc"`) {
		t.Fatalf("discovery: %s %s", res.Status, body)
	}

	ctx := context.Background()
	create := func(token string) error {
		c := catalogv1connect.NewCatalogServiceClient(http1Client(t), s.baseURL, connect.WithInterceptors(bearer(token)))
		_, err := c.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{
			Publisher: &catalogv1.PublisherInput{Name: uniq("Dev Press")}}))
		return err
	}
	if err := create(adminTok); err != nil {
		t.Fatalf("dev admin token: %v", err)
	}
	wantCode(t, create(userTok), connect.CodePermissionDenied)
	wantCode(t, create(adminToken), connect.CodeUnauthenticated) // the suite issuer's token means nothing here

	// CORS for the configured origin.
	req, _ := http.NewRequest(http.MethodOptions, s.baseURL+"/bookworm.catalog.v1.CatalogService/CreatePublisher", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
		t.Fatalf("CORS preflight: Access-Control-Allow-Origin %q", got)
	}

	// --env prod without an issuer does not start.
	cmd := exec.Command(serverBin, "--env", "prod")
	cmd.Env = append(environWithout("BOOKWORM_"), "BOOKWORM_DATABASE_URL="+serverDBURL, "BOOKWORM_ADDR=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "no OIDC issuer") {
		t.Fatalf("--env prod without issuer: err %v, output %s", err, out)
	}
	_ = os.Remove(keyFile)
}
