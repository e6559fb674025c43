package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestCORSPreflightHeaderOrder runs browser preflights against the real
// server: the answer depends on the set of requested headers, never on
// their order, case, spacing or repetition, and the call that follows a
// preflight gets the CORS headers a browser needs to read its answer.
func TestCORSPreflightHeaderOrder(t *testing.T) {
	const origin = "https://shop.example"
	s := startExtraServer(t, "cors", append(issuerEnv(), "BOOKWORM_CORS_ORIGINS="+origin)...)
	const rpc = "/bookworm.catalog.v1.CatalogService/CreatePublisher"
	preflight := func(t *testing.T, origin string, headers ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, s.baseURL+rpc, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		for _, h := range headers {
			req.Header.Add("Access-Control-Request-Headers", h)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	tests := []struct {
		name    string
		origin  string
		headers []string
		allowed bool
	}{
		{name: "sorted", origin: origin, headers: []string{"authorization,content-type"}, allowed: true},
		{name: "unsorted", origin: origin, headers: []string{"content-type,authorization"}, allowed: true},
		{name: "connect headers reversed", origin: origin, headers: []string{"content-type,connect-timeout-ms,connect-protocol-version,authorization"}, allowed: true},
		{name: "mixed case", origin: origin, headers: []string{"Content-Type,AUTHORIZATION"}, allowed: true},
		{name: "spaces", origin: origin, headers: []string{" content-type ,  authorization "}, allowed: true},
		{name: "duplicates", origin: origin, headers: []string{"content-type,authorization,content-type"}, allowed: true},
		{name: "two header lines", origin: origin, headers: []string{"content-type", "authorization"}, allowed: true},
		{name: "header not allowed", origin: origin, headers: []string{"x-evil,content-type"}, allowed: false},
		{name: "other origin", origin: "https://evil.example", headers: []string{"content-type,authorization"}, allowed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := preflight(t, tt.origin, tt.headers...)
			got := res.Header.Get("Access-Control-Allow-Origin")
			if tt.allowed != (got == tt.origin) {
				t.Fatalf("%s: Access-Control-Allow-Origin %q, want allowed=%v", res.Status, got, tt.allowed)
			}
			if tt.allowed {
				allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
				for _, h := range []string{"authorization", "content-type"} {
					if !strings.Contains(allowed, h) {
						t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
					}
				}
			}
		})
	}

	// The call itself, as the browser sends it after the preflight.
	req, err := http.NewRequest(http.MethodPost, s.baseURL+rpc, strings.NewReader(`{"publisher":{"name":"`+uniq("CORS Press")+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("call after preflight: %s, Access-Control-Allow-Origin %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
}
