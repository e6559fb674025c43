package events

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	const dep = "0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60"
	tests := []struct {
		source, dep, context string
		ok                   bool
	}{
		{Source(dep, "catalog"), dep, "catalog", true},
		{"bookworm://0192F3A4-B5C6-7D8E-9F0A-1B2C3D4E5F60/rating", dep, "rating", true},
		{"/bookworm/catalog", "", "", false}, // before deployments had identities
		{"bookworm://" + dep, "", "", false},
		{"bookworm://" + dep + "/", "", "", false},
		{"bookworm://" + dep + "/a/b", "", "", false},
		{"bookworm://prod/catalog", "", "", false},
		{"bookworm://{" + dep + "}/catalog", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		d, c, ok := ParseSource(tt.source)
		if d != tt.dep || c != tt.context || ok != tt.ok {
			t.Errorf("ParseSource(%q) = %q, %q, %v; want %q, %q, %v", tt.source, d, c, ok, tt.dep, tt.context, tt.ok)
		}
	}
}

// TestGuard: the guard hands its own deployment's events to the handler
// and drops every other: acked (nil), counted, logged once per source.
func TestGuard(t *testing.T) {
	const (
		mine  = "0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60"
		other = "0192f3a4-b5c6-7d8e-9f0a-aaaaaaaaaaaa"
	)
	var logs bytes.Buffer
	g, err := NewGuard(mine, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var handled []string
	boom := errors.New("boom")
	h := g.Handler(func(_ context.Context, m Message) error {
		handled = append(handled, m.ID)
		switch m.ID {
		case "anomaly":
			return Permanent(boom)
		case "transient":
			return boom
		}
		return nil
	})
	ctx := context.Background()
	for i := range 3 {
		if err := h(ctx, Message{ID: "theirs-" + string(rune('0'+i)), Type: "t", Source: Source(other, "rating")}); err != nil {
			t.Fatalf("foreign event: %v, want nil (acked)", err)
		}
	}
	if err := h(ctx, Message{ID: "legacy", Type: "t", Source: "/bookworm/rating"}); err != nil {
		t.Fatal(err)
	}
	if err := h(ctx, Message{ID: "ours", Type: "t", Source: Source(mine, "rating")}); err != nil {
		t.Fatal(err)
	}
	if err := h(ctx, Message{ID: "anomaly", Type: "t", Source: Source(mine, "rating")}); !errors.Is(err, ErrPermanent) || !errors.Is(err, boom) {
		t.Fatalf("anomaly: %v", err)
	}
	if err := h(ctx, Message{ID: "transient", Type: "t", Source: Source(mine, "rating")}); err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("transient: %v", err)
	}
	if strings.Join(handled, ",") != "ours,anomaly,transient" {
		t.Fatalf("handled %v", handled)
	}
	if s := g.Stats(); s.Foreign != 4 || s.Permanent != 1 {
		t.Fatalf("stats %+v, want 4 foreign and 1 permanent", s)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "event_id=theirs-0") ||
		!strings.Contains(lines[0], other) || !strings.Contains(lines[1], "/bookworm/rating") {
		t.Fatalf("want one WARN line per foreign source, got:\n%s", logs.String())
	}
	if _, err := NewGuard("prod", nil); err == nil {
		t.Fatal("a deployment that is not a UUID was accepted")
	}
}
