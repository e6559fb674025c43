package auth

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

func catalogSpec(b *testing.B, method string) connect.Spec {
	b.Helper()
	m := catalogv1.File_bookworm_catalog_v1_catalog_proto.Services().Get(0).Methods().ByName(protoreflect.Name(method))
	if m == nil {
		b.Fatalf("no method %s", method)
	}
	return connect.Spec{Schema: m, Procedure: "/bookworm.catalog.v1.CatalogService/" + method}
}

// BenchmarkInterceptor measures what the interceptor adds to a call: the
// rule lookup, the header parsing and the token check. "admin token" is the
// steady state of a client reusing its token (the rule and the verified
// token both cached); the uncached cases are a token's first call.
//
//	go test -run '^$' -bench 'Interceptor|Verify' -benchmem ./internal/adapters/auth
func BenchmarkInterceptor(b *testing.B) {
	w := newFuzzWorld(b)
	i := NewInterceptor(w.v, slog.New(slog.DiscardHandler))
	admin := authtest.SignWith(b, authtest.KeyFrom(w.ecID, jose.ES256, w.ec), w.claims())
	ctx := context.Background()

	run := func(name string, spec connect.Spec, h http.Header) {
		b.Run(name, func(b *testing.B) {
			if _, err := i.authorize(ctx, spec, h); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := i.authorize(ctx, spec, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("anonymous public read", catalogSpec(b, "GetBook"), http.Header{})
	run("admin token, admin write", catalogSpec(b, "CreateBook"), http.Header{"Authorization": {"Bearer " + admin}})
}

// BenchmarkVerifyUncached is a token's first call: parse, signature, claims.
func BenchmarkVerifyUncached(b *testing.B) {
	w := newFuzzWorld(b)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			k := authtest.KeyFrom(w.ecID, jose.ES256, w.ec)
			if alg == jose.RS256 {
				k = authtest.KeyFrom(w.rsID, jose.RS256, w.rsa)
			}
			tok := authtest.SignWith(b, k, w.claims())
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := w.v.verify(context.Background(), tok, fuzzNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPGetBook is a whole GetBook round trip over HTTP/1.1 to a stub
// handler behind the interceptor, anonymous and with a token, to put the
// interceptor's share in proportion.
func BenchmarkHTTPGetBook(b *testing.B) {
	w := newFuzzWorld(b)
	base := server(b, NewInterceptor(w.v, nil))
	admin := authtest.SignWith(b, authtest.KeyFrom(w.ecID, jose.ES256, w.ec), w.claims())
	c := catalogv1connect.NewCatalogServiceClient(http.DefaultClient, base)
	for _, tc := range []struct{ name, token string }{{"anonymous", ""}, {"token", admin}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				req := connect.NewRequest(&catalogv1.GetBookRequest{Id: "x"})
				if tc.token != "" {
					req.Header().Set("Authorization", "Bearer "+tc.token)
				}
				if _, err := c.GetBook(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
