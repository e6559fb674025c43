package main

import (
	"io"
	"strings"
	"testing"
)

func TestObservabilityConfig(t *testing.T) {
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
		want    obsConfig
		wantErr string
	}{
		{
			name: "defaults: metrics on loopback, no traces",
			env:  env(),
			want: obsConfig{MetricsAddr: "127.0.0.1:9464", TraceSampleRatio: 1},
		},
		{
			name: "environment",
			env: env("BOOKWORM_METRICS_ADDR", "0.0.0.0:9100", "BOOKWORM_OTLP_ENDPOINT", "http://otel:4318",
				"BOOKWORM_TRACE_SAMPLE_RATIO", "0.25", "BOOKWORM_TRACE_TRUST_REMOTE", "true"),
			want: obsConfig{MetricsAddr: "0.0.0.0:9100", OTLPEndpoint: "http://otel:4318", TraceSampleRatio: 0.25, TraceTrustRemote: true},
		},
		{
			name: "metrics off by environment",
			env:  env("BOOKWORM_METRICS_ADDR", "off"),
			want: obsConfig{TraceSampleRatio: 1},
		},
		{
			name: "metrics off by an empty flag",
			args: []string{"--metrics-addr="},
			env:  env(),
			want: obsConfig{TraceSampleRatio: 1},
		},
		{name: "metrics on the API address", args: []string{"--metrics-addr", "127.0.0.1:8080"}, env: env(), wantErr: "never served on the API port"},
		{name: "bad metrics address", args: []string{"--metrics-addr", "9464"}, env: env(), wantErr: "metrics-addr"},
		{name: "bad metrics port", args: []string{"--metrics-addr", "127.0.0.1:http"}, env: env(), wantErr: "metrics-addr"},
		{name: "ratio not a number", env: env("BOOKWORM_TRACE_SAMPLE_RATIO", "half"), wantErr: "trace-sample-ratio"},
		{name: "ratio above 1", args: []string{"--trace-sample-ratio", "2"}, env: env(), wantErr: "trace-sample-ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Observability != tt.want {
				t.Errorf("observability config %+v, want %+v", c.Observability, tt.want)
			}
		})
	}
}
