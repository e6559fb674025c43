package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// jsonLogger logs through NewLogHandler into a buffer; lines decodes it.
func jsonLogger(t *testing.T) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return log, func() []map[string]any {
		t.Helper()
		var lines []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %v\n%s", err, line)
			}
			lines = append(lines, m)
		}
		buf.Reset()
		return lines
	}
}

func TestLogHandlerTraceIDs(t *testing.T) {
	// A real SDK provider without exporters: spans are recorded, ids real.
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "operation")
	defer span.End()
	sc := span.SpanContext()

	log, lines := jsonLogger(t)
	log.InfoContext(ctx, "in a span", slog.Int("n", 1))
	log.With(slog.String("component", "relay")).WarnContext(ctx, "with attrs")
	log.InfoContext(t.Context(), "no span")
	log.Info("no context")

	got := lines()
	if len(got) != 4 {
		t.Fatalf("%d lines, want 4: %v", len(got), got)
	}
	for i, line := range got[:2] {
		if line[TraceIDKey] != sc.TraceID().String() || line[SpanIDKey] != sc.SpanID().String() {
			t.Errorf("line %d: trace_id %v span_id %v, want %s %s", i, line[TraceIDKey], line[SpanIDKey], sc.TraceID(), sc.SpanID())
		}
	}
	if got[0]["n"] != float64(1) || got[1]["component"] != "relay" {
		t.Errorf("other attributes lost: %v", got[:2])
	}
	for i, line := range got[2:] {
		if _, ok := line[TraceIDKey]; ok {
			t.Errorf("line %d without a span has a trace_id: %v", i+2, line)
		}
	}

	// A remote span context (from a traceparent) is logged too.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	log.InfoContext(trace.ContextWithRemoteSpanContext(t.Context(), remote), "remote")
	if line := lines()[0]; line[TraceIDKey] != remote.TraceID().String() {
		t.Errorf("remote parent: trace_id %v, want %s", line[TraceIDKey], remote.TraceID())
	}
}

// secretError is an error whose message holds a connection string.
type secretError struct{ url string }

func (e secretError) Error() string { return "dial " + e.url + ": connection refused" }

func TestLogHandlerRedacts(t *testing.T) {
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
	cases := []struct {
		name    string
		log     func(*slog.Logger)
		key     string // the attribute checked; "msg" for the message
		want    string
		secrets []string // must appear nowhere in the line
	}{
		{
			name:    "password attribute",
			log:     func(l *slog.Logger) { l.Info("login", slog.String("password", "hunter2")) },
			key:     "password",
			want:    redacted,
			secrets: []string{"hunter2"},
		},
		{
			name:    "token attribute of any kind",
			log:     func(l *slog.Logger) { l.Info("x", slog.Any("refresh_token", []string{"abc123"})) },
			key:     "refresh_token",
			want:    redacted,
			secrets: []string{"abc123"},
		},
		{
			name: "authorization attribute in a group",
			log: func(l *slog.Logger) {
				l.Info("x", slog.Group("req", slog.String("Authorization", "Basic dXNlcjpwYXNz")))
			},
			key:     "req.Authorization",
			want:    redacted,
			secrets: []string{"dXNlcjpwYXNz"},
		},
		{
			name: "URL password in a string",
			log: func(l *slog.Logger) {
				l.Info("x", slog.String("url", "postgres://bookworm:s3cret@db:5432/bookworm?sslmode=disable"))
			},
			key:     "url",
			want:    "postgres://bookworm:xxxxx@db:5432/bookworm?sslmode=disable",
			secrets: []string{"s3cret"},
		},
		{
			name: "URL password in an error",
			log: func(l *slog.Logger) {
				l.Error("x", slog.Any("error", secretError{"amqp://guest:guest@127.0.0.1:5672/"}))
			},
			key:     "error",
			want:    "dial amqp://guest:xxxxx@127.0.0.1:5672/: connection refused",
			secrets: []string{"guest@"},
		},
		{
			name: "URL password in a wrapped error",
			log: func(l *slog.Logger) {
				l.Error("x", slog.Any("error", fmt.Errorf("broker: %w", secretError{"amqps://u:p%40ss@mq"})))
			},
			key:     "error",
			want:    "broker: dial amqps://u:xxxxx@mq: connection refused",
			secrets: []string{"p%40ss"},
		},
		{
			name:    "URL password in the message",
			log:     func(l *slog.Logger) { l.Warn("cannot reach redis://:pw@cache:6379/0 now") },
			key:     "msg",
			want:    "cannot reach redis://:xxxxx@cache:6379/0 now",
			secrets: []string{":pw@"},
		},
		{
			name:    "bearer token in a header value",
			log:     func(l *slog.Logger) { l.Info("x", slog.String("header", "Authorization: Bearer abc.def-ghi")) },
			key:     "header",
			want:    "Authorization: Bearer " + redacted,
			secrets: []string{"abc.def-ghi"},
		},
		{
			name:    "JWT in text",
			log:     func(l *slog.Logger) { l.Info("x", slog.String("detail", "token "+jwt+" expired")) },
			key:     "detail",
			want:    "token " + redacted + " expired",
			secrets: []string{jwt[:20]},
		},
		{
			name: "attributes given to With",
			log: func(l *slog.Logger) {
				l.With(slog.String("api_key", "k-123"), slog.String("dsn", "postgres://a:b@h/d")).Info("x")
			},
			key:     "dsn",
			want:    "postgres://a:xxxxx@h/d",
			secrets: []string{"k-123", ":b@"},
		},
		{
			name: "URL without a password is left alone",
			log:  func(l *slog.Logger) { l.Info("x", slog.String("url", "postgres://postgres@127.0.0.1:5432/bookworm")) },
			key:  "url",
			want: "postgres://postgres@127.0.0.1:5432/bookworm",
		},
		{
			name: "ordinary text is left alone",
			log: func(l *slog.Logger) {
				l.Info("x", slog.String("title", "The Hobbit: eyJ is not a token"), slog.Int("n", 3))
			},
			key:  "title",
			want: "The Hobbit: eyJ is not a token",
		},
		{
			name: "LogValuer resolved first",
			log:  func(l *slog.Logger) { l.Info("x", slog.Any("target", urlValuer("http://u:pw@h/"))) },
			key:  "target",
			want: "http://u:xxxxx@h/",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, lines := jsonLogger(t)
			c.log(log)
			got := lines()
			if len(got) != 1 {
				t.Fatalf("%d lines, want 1", len(got))
			}
			line := got[0]
			var v any = line
			for _, k := range strings.Split(c.key, ".") {
				m, _ := v.(map[string]any)
				v = m[k]
			}
			if v != c.want {
				t.Errorf("%s = %v, want %q", c.key, v, c.want)
			}
			raw, _ := json.Marshal(line)
			for _, s := range c.secrets {
				if strings.Contains(string(raw), s) {
					t.Errorf("line holds secret %q: %s", s, raw)
				}
			}
		})
	}
}

type urlValuer string

func (u urlValuer) LogValue() slog.Value { return slog.StringValue(string(u)) }

func TestLogHandlerLevels(t *testing.T) {
	var buf bytes.Buffer
	h := NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
	slog.New(h).WithGroup("g").Error("x", slog.String("token", "t"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if g, _ := m["g"].(map[string]any); g["token"] != redacted {
		t.Errorf("grouped token not redacted: %s", buf.Bytes())
	}
}

// TestLogHandlerDurations: durations read as durations ("9.694455442s"),
// not raw nanoseconds, in records, in groups and in a logger's attributes.
func TestLogHandlerDurations(t *testing.T) {
	log, lines := jsonLogger(t)
	d := 9694455442 * time.Nanosecond
	log.With(slog.Duration("timeout", 2*time.Second)).Warn("rabbitmq cannot connect; retrying",
		slog.Duration("retry_in", d), slog.Group("backoff", slog.Duration("max", 10*time.Second)),
		slog.String("password", "hunter2"))
	got := lines()
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	l := got[0]
	if l["retry_in"] != "9.694455442s" || l["timeout"] != "2s" || l["backoff"].(map[string]any)["max"] != "10s" {
		t.Fatalf("durations not readable: %v", l)
	}
	if l["password"] != redacted {
		t.Fatalf("secret not redacted alongside a duration: %v", l)
	}
}
