package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestContextsConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		want    []string
		wantErr []string
	}{
		{name: "every context by default", env: env(), want: []string{"catalog", "rating", "basket", "ordering", "notification", "assistant"}},
		{name: "basket alone with the catalog's URL", env: env("BOOKWORM_CONTEXTS", "basket", "BOOKWORM_CATALOG_URL", "http://10.0.0.7:8080"), want: []string{"basket"}},
		{name: "basket without the catalog needs its URL", args: []string{"--contexts", "basket"}, env: env(),
			wantErr: []string{"basket without catalog needs catalog-url (BOOKWORM_CATALOG_URL)"}},
		{name: "registry order, spaces and repeats ignored", args: []string{"--contexts", " rating, catalog ,rating"}, env: env(), want: []string{"catalog", "rating"}},
		{name: "catalog alone", env: env("BOOKWORM_CONTEXTS", "catalog"), want: []string{"catalog"}},
		{name: "rating alone with the catalog's URL", env: env("BOOKWORM_CONTEXTS", "rating", "BOOKWORM_CATALOG_URL", "http://10.0.0.7:8080"), want: []string{"rating"}},
		{name: "unknown names are named, with the known ones", args: []string{"--contexts", "catalog,shipping,Rating"}, env: env(),
			wantErr: []string{`"shipping"`, `"Rating"`, "known contexts: catalog, rating, basket, ordering, notification"}},
		{name: "none", args: []string{"--contexts", " , "}, env: env(), wantErr: []string{"none given", "catalog, rating, basket"}},
		{name: "rating without the catalog needs its URL", args: []string{"--contexts", "rating"}, env: env(),
			wantErr: []string{"rating without catalog needs catalog-url (BOOKWORM_CATALOG_URL)"}},
		{name: "catalog URL must be http(s)", args: []string{"--contexts", "rating", "--catalog-url", "catalog:8080"}, env: env(),
			wantErr: []string{"catalog-url must start with http:// or https://"}},
		{name: "seed needs the catalog", args: []string{"--contexts", "rating", "--catalog-url", "http://c:1", "--seed"}, env: env(),
			wantErr: []string{"seed loads the catalog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != nil {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error = %v, want one containing %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Contexts, tt.want) {
				t.Fatalf("Contexts = %v, want %v", c.Contexts, tt.want)
			}
		})
	}
}

// TestRegistry: names are unique, every context a context calls is
// registered before it (in-process ports need it built first) and has a
// URL setting for when it runs elsewhere.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range registry {
		if seen[e.name] || e.build == nil || e.consumers == nil {
			t.Errorf("context %q: listed twice or incomplete", e.name)
		}
		for _, callee := range e.calls {
			if !seen[callee] {
				t.Errorf("context %q calls %q, which is not registered before it", e.name, callee)
			}
			if _, ok := (config{}).remoteURLs()[callee]; !ok {
				t.Errorf("context %q calls %q, which has no URL setting", e.name, callee)
			}
		}
		seen[e.name] = true
	}
}
