package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	h := CORS(ok, []string{"https://shop.example"})

	preflight := func(origin, headers string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/bookworm.catalog.v1.CatalogService/CreateBook", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", headers)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// Sorted and lower case, as browsers send them.
	rec := preflight("https://shop.example", "authorization,connect-protocol-version,content-type,x-grpc-web,x-user-agent")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
		t.Fatalf("allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "content-type", "connect-protocol-version", "x-grpc-web"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("preflight does not allow %s: %q", h, allowed)
		}
	}
	if rec := preflight("https://evil.example", "authorization"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("preflight from another origin allowed")
	}

	req := httptest.NewRequest(http.MethodPost, "/x", nil)
	req.Header.Set("Origin", "https://shop.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	exposed := strings.ToLower(rec.Header().Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("%s not exposed: %q", h, exposed)
		}
	}

	// No origins configured: no CORS headers at all.
	rec = httptest.NewRecorder()
	CORS(ok, nil).ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers without configured origins")
	}
}
