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

// TestCORSPreflightHeaderLists checks that a preflight is answered by the set
// of requested header names, whatever their order, case, spacing or
// repetition: rs/cors alone refuses every list that is not sorted, lower
// case and unique.
func TestCORSPreflightHeaderLists(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	h := CORS(ok, []string{"https://shop.example"})
	tests := []struct {
		name    string
		headers []string // one entry per header line
		allowed bool
	}{
		{name: "sorted", headers: []string{"authorization,content-type"}, allowed: true},
		{name: "unsorted", headers: []string{"content-type,authorization"}, allowed: true},
		{name: "reversed connect set", headers: []string{"x-user-agent,x-grpc-web,content-type,connect-protocol-version,authorization"}, allowed: true},
		{name: "canonical case", headers: []string{"Content-Type,Authorization"}, allowed: true},
		{name: "upper case", headers: []string{"CONTENT-TYPE,AUTHORIZATION"}, allowed: true},
		{name: "space after commas", headers: []string{"content-type, authorization"}, allowed: true},
		{name: "lots of spacing", headers: []string{"  content-type  ,\tauthorization   "}, allowed: true},
		{name: "duplicates", headers: []string{"authorization,content-type,authorization,Content-Type"}, allowed: true},
		{name: "empty elements", headers: []string{",content-type,,authorization,"}, allowed: true},
		{name: "split over two lines", headers: []string{"content-type", "authorization"}, allowed: true},
		{name: "single", headers: []string{"Authorization"}, allowed: true},
		{name: "empty list", headers: []string{""}, allowed: true},
		{name: "unknown header", headers: []string{"content-type,x-evil"}, allowed: false},
		{name: "unknown header unsorted", headers: []string{"x-evil,authorization"}, allowed: false},
		{name: "absurdly long list", headers: []string{strings.Repeat("authorization,", maxRequestedHeaders+1)}, allowed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodOptions, "/bookworm.catalog.v1.CatalogService/CreateBook", nil)
			req.Header.Set("Origin", "https://shop.example")
			req.Header.Set("Access-Control-Request-Method", http.MethodPost)
			for _, v := range tt.headers {
				req.Header.Add("Access-Control-Request-Headers", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status %d, want 204", rec.Code)
			}
			got := rec.Header().Get("Access-Control-Allow-Origin")
			if tt.allowed != (got == "https://shop.example") {
				t.Fatalf("Access-Control-Allow-Origin = %q, want allowed=%v", got, tt.allowed)
			}
			if !tt.allowed {
				return
			}
			allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
			for _, v := range tt.headers {
				for name := range strings.SplitSeq(v, ",") {
					if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !strings.Contains(allowed, name) {
						t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, name)
					}
				}
			}
		})
	}
}
