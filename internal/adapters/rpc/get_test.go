package rpc

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// TestGuardGetQueries: a GET whose base64 message is not base64 is
// InvalidArgument (connect-go alone answers Unknown, HTTP 500); a valid GET
// still reaches the handler (here: the contract's validation).
func TestGuardGetQueries(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), Services: catalogOnly(), MaxRequestBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(GuardGetQueries(routes.Handler(1 << 20)))
	defer srv.Close()
	path := srv.URL + catalogv1connect.CatalogServiceGetBookProcedure
	valid, _ := proto.Marshal(&catalogv1.GetBookRequest{Id: "not-a-uuid"})
	tests := []struct {
		name  string
		query url.Values
		want  connect.Code
	}{
		{"garbage", url.Values{"encoding": {"proto"}, "base64": {"1"}, "message": {"%%%"}}, connect.CodeInvalidArgument},
		{"standard alphabet", url.Values{"encoding": {"proto"}, "base64": {"1"}, "message": {"+/+/"}}, connect.CodeInvalidArgument},
		{"valid unpadded", url.Values{"encoding": {"proto"}, "base64": {"1"}, "message": {base64.RawURLEncoding.EncodeToString(valid)}}, connect.CodeInvalidArgument},
		{"valid padded", url.Values{"encoding": {"proto"}, "base64": {"1"}, "message": {base64.URLEncoding.EncodeToString(valid)}}, connect.CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Get(path + "?" + tc.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %s, want 400 (invalid_argument)", res.Status)
			}
		})
	}
	// The valid ones reached the handler: the contract refused the id, so
	// the answer names the field, which the guard never does.
	c := catalogv1connect.NewCatalogServiceClient(srv.Client(), srv.URL, connect.WithHTTPGet())
	_, err = c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: "not-a-uuid"}))
	if ce, ok := err.(*connect.Error); !ok || ce.Code() != connect.CodeInvalidArgument || ce.Message() == "message: is not URL-safe base64" {
		t.Fatalf("a valid GET: %v, want the contract's InvalidArgument", err)
	}
}
