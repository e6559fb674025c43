package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReconnect loses the connection in several ways while a consumer runs
// and checks that the broker comes back by itself: publishing works again,
// the consumer resumes, and every message published before and after the loss
// is handled.
func TestReconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lose breaks the broker's connection or channel.
		lose func(t *testing.T, cfg Config, b *Broker, d *cuttableDialer)
	}{
		{"broker closes the connection", func(t *testing.T, cfg Config, _ *Broker, _ *cuttableDialer) {
			closeConnectionsNamed(t, cfg.ConnectionName)
		}},
		{"socket cut under the client", func(t *testing.T, _ Config, _ *Broker, d *cuttableDialer) {
			if d.cut() == 0 {
				t.Fatal("no socket to cut")
			}
		}},
		{"exchange deleted (publishing channel lost)", func(t *testing.T, cfg Config, b *Broker, _ *cuttableDialer) {
			if err := adminChannel(t).ExchangeDelete(cfg.Exchange, false, false); err != nil {
				t.Fatal(err)
			}
			// Publishing to the missing exchange closes the publishing
			// channel; whether this very batch is confirmed is not known.
			_, _ = b.PublishBatch(context.Background(), testMessages(1))
		}},
		{"queue deleted (subscription cancelled)", func(t *testing.T, cfg Config, _ *Broker, _ *cuttableDialer) {
			if _, err := adminChannel(t).QueueDelete(cfg.QueuePrefix+"."+testContext, false, false, false); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			d := &cuttableDialer{}
			b, err := newBroker(cfg, d.dial)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			waitReady(t, b)
			rec := newRecorder(nil)
			consume(t, b, rec.handle, ConsumeOptions{})
			before := testMessages(50)
			publishAll(t, b, before)
			eventually(t, "the first messages handled", func() bool { return rec.handled() == len(before) })

			tt.lose(t, cfg, b, d)
			// The consumer subscribes again by itself (and declares its
			// queue again when it was deleted).
			eventually(t, "the consumer subscribed again", func() bool {
				_, consumers, err := inspectQueue(t, cfg.QueuePrefix+"."+testContext)
				return err == nil && consumers == 1
			})

			// Publish until a whole batch is confirmed: while the broker
			// is down, PublishBatch fails at once and is tried again.
			after := testMessages(50)
			eventually(t, "a batch confirmed after the loss", func() bool {
				confirmed, err := b.PublishBatch(context.Background(), after)
				if err != nil {
					if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotConfirmed) {
						t.Fatalf("PublishBatch after the loss: %v", err)
					}
					return false
				}
				return len(confirmed) == len(after)
			})
			eventually(t, "the consumer handles messages published after the loss", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				for _, m := range after {
					if rec.count[m.ID] == 0 {
						return false
					}
				}
				return true
			})
		})
	}
}

// closeConnectionsNamed makes the broker close the connections with a client
// name, as an operator (or a broker restart) would.
func closeConnectionsNamed(t *testing.T, name string) {
	t.Helper()
	var pids []string
	eventually(t, "the connection listed by rabbitmqctl", func() bool {
		var err error
		if pids, err = testBroker.ConnectionPIDs(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		return len(pids) > 0
	})
	for _, pid := range pids {
		if _, err := testBroker.Ctl(t.Context(), "close_connection", pid, "closed by a BookWorm test"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPublishFailsFastWhileDown points a broker at a port where nothing
// listens: it is not ready, and publishing fails at once with ErrUnavailable
// instead of waiting for a connection.
func TestPublishFailsFastWhileDown(t *testing.T) {
	t.Parallel()
	b, err := New(Config{URL: "amqp://guest:guest@127.0.0.1:1/", ReconnectMinDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Ready() {
		t.Error("Ready with nothing to connect to")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	confirmed, err := b.PublishBatch(ctx, testMessages(3))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("PublishBatch = %v, want ErrUnavailable", err)
	}
	if len(confirmed) != 3 || confirmed[0] || confirmed[1] || confirmed[2] {
		t.Errorf("confirmed = %v, want three false", confirmed)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := b.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady = %v, want context.DeadlineExceeded", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := b.PublishBatch(ctx, testMessages(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("PublishBatch after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Consume(ctx, testContext, func(context.Context, Message) error { return nil }, ConsumeOptions{}); err == nil {
		t.Error("Consume of an undeclared context succeeded")
	}
}

// TestReconnectLogs: the broker's log tells a broker it could not reach
// ("cannot connect") from a connection it lost after it was up ("connection
// lost"), with a wait people can read ("retry_in":"35ms", not nanoseconds).
func TestReconnectLogs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	var logs lockedBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &cuttableDialer{}
	var refused atomic.Int32
	b, err := newBroker(cfg, func(network, addr string) (net.Conn, error) {
		if refused.Add(1) <= 2 { // the broker is not there yet
			return nil, errors.New("connection refused")
		}
		return d.dial(network, addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	waitReady(t, b)
	if d.cut() == 0 {
		t.Fatal("no socket to cut")
	}
	eventually(t, "the loss logged", func() bool { return strings.Contains(logs.String(), "connection lost") })
	waitReady(t, b)

	var cannot, lost int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		switch msg {
		case "rabbitmq cannot connect; retrying":
			cannot++
		case "rabbitmq connection lost; reconnecting":
			lost++
		default:
			continue
		}
		s, ok := rec["retry_in"].(string)
		if _, err := time.ParseDuration(s); !ok || err != nil {
			t.Fatalf("retry_in %v (%T) is not a readable duration: %s", rec["retry_in"], rec["retry_in"], line)
		}
	}
	if cannot != 2 || lost != 1 {
		t.Fatalf("%d \"cannot connect\" and %d \"connection lost\" lines, want 2 and 1:\n%s", cannot, lost, logs.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
