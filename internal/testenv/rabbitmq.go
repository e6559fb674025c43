package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// defaultSharedRabbitMQ is the machine's shared broker, the fallback.
const defaultSharedRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"

// RabbitMQServer is a RabbitMQ broker for tests; URL is its AMQP URL
// (guest/guest, vhost /). The embedded Container stops, starts and pauses
// it; it is nil for the shared broker of the fallback, where tests must
// still use exchange and queue names of their own.
type RabbitMQServer struct {
	URL string
	*Container
}

var (
	pkgRabbitOnce sync.Once
	pkgRabbit     *RabbitMQServer
	pkgRabbitErr  error
)

// PackageRabbitMQ returns the package's broker, started on the first call
// (one per test binary) and terminated by Run. For TestMain; in a test,
// RabbitMQ is shorter.
func PackageRabbitMQ(ctx context.Context) (*RabbitMQServer, error) {
	pkgRabbitOnce.Do(func() {
		pkgRabbit, pkgRabbitErr = startRabbitMQ(ctx, nil)
	})
	return pkgRabbit, pkgRabbitErr
}

// RabbitMQ is PackageRabbitMQ for a test: it fails the test on error.
func RabbitMQ(tb testing.TB) *RabbitMQServer {
	tb.Helper()
	r, err := PackageRabbitMQ(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// NewRabbitMQ starts a broker of the test's own, terminated when the test
// ends: for tests that stop, restart or pause it. Without an engine the
// test is skipped (or fails when containers are required).
func NewRabbitMQ(tb testing.TB) *RabbitMQServer {
	tb.Helper()
	r, err := startRabbitMQ(context.Background(), map[string]string{"org.bookworm.testenv.test": tb.Name()})
	if err != nil {
		tb.Fatal(err)
	}
	if r.Container == nil {
		tb.Skip("testenv: no container engine: this test needs a RabbitMQ of its own")
	}
	tb.Cleanup(func() {
		if err := r.Terminate(); err != nil {
			tb.Errorf("terminating the test's RabbitMQ: %v", err)
		}
	})
	return r
}

// StartRabbitMQ starts a broker that is not the package's one, for a
// TestMain that needs a second broker; Run terminates it (or call
// Terminate). Without an engine it returns the shared broker, whose
// Container is nil.
func StartRabbitMQ(ctx context.Context) (*RabbitMQServer, error) {
	return startRabbitMQ(ctx, nil)
}

// StartPostgres starts a Postgres server that is not the package's one, for
// a TestMain that needs a second server; Run terminates it (or call
// Terminate). Without an engine it returns the shared server, whose
// Container is nil.
func StartPostgres(ctx context.Context) (*PostgresServer, error) {
	return startPostgres(ctx, nil)
}

func startRabbitMQ(ctx context.Context, labels map[string]string) (*RabbitMQServer, error) {
	e, why := getEngine()
	if e == nil {
		shared := os.Getenv("BOOKWORM_TEST_AMQP_URL")
		if shared == "" {
			shared = defaultSharedRabbitMQ
		}
		if err := fallback("RabbitMQ", why, shared); err != nil {
			return nil, err
		}
		return &RabbitMQServer{URL: shared}, nil
	}
	c, err := startContainer(ctx, e, spec{
		name:     "rabbitmq",
		port:     "5672/tcp",
		official: "rabbitmq:3",
		waitLog:  "Server startup complete",
		waitN:    1,
		ready: func(ctx context.Context, port string) error {
			return poll(ctx, 2*time.Minute, "rabbitmq", func(context.Context) error {
				conn, err := amqp.DialConfig(amqpURL(port), amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
				if err != nil {
					return err
				}
				return conn.Close()
			})
		},
		labels: labels,
	})
	if err != nil {
		return nil, err
	}
	return &RabbitMQServer{URL: amqpURL(c.port), Container: c}, nil
}

func amqpURL(port string) string { return "amqp://guest:guest@127.0.0.1:" + port + "/" }

// Ctl runs rabbitmqctl with args against the broker: in its container, or
// the machine's rabbitmqctl for the shared broker.
func (r *RabbitMQServer) Ctl(ctx context.Context, args ...string) (string, error) {
	if r.Container != nil {
		return r.Exec(ctx, append([]string{"rabbitmqctl"}, args...)...)
	}
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Queues returns the names of the broker's queues that start with prefix.
func (r *RabbitMQServer) Queues(ctx context.Context, prefix string) ([]string, error) {
	out, err := r.Ctl(ctx, "list_queues", "name", "-q", "--no-table-headers")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(out) {
		if name := strings.TrimSpace(line); name != "" && strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names, nil
}

// DeleteTopology deletes the queues whose names start with prefix and the
// exchanges named, dialling again for a while when the broker is not up (a
// fault test may just have restarted it).
func (r *RabbitMQServer) DeleteTopology(ctx context.Context, prefix string, exchanges ...string) error {
	queues, err := r.Queues(ctx, prefix)
	if err != nil {
		return err
	}
	var conn *amqp.Connection
	err = poll(ctx, time.Minute, "rabbitmq", func(context.Context) error {
		var err error
		conn, err = amqp.Dial(r.URL)
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return fmt.Errorf("delete queue %s: %w", q, err)
		}
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return fmt.Errorf("delete exchange %s: %w", x, err)
		}
	}
	return nil
}

// ConnectionPIDs returns the broker's ids of the client connections whose
// client-given name (amqp091's connection_name property) is name, for
// rabbitmqctl close_connection.
func (r *RabbitMQServer) ConnectionPIDs(ctx context.Context, name string) ([]string, error) {
	out, err := r.Ctl(ctx, "list_connections", "pid", "client_properties", "-q", "--no-table-headers")
	if err != nil {
		return nil, err
	}
	var pids []string
	for line := range strings.Lines(out) {
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok && strings.Contains(props, `{"connection_name","`+name+`"}`) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
