package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/testenv"
)

// pg and mq are the run's Postgres and RabbitMQ: containers of the
// package's own (testenv), or the machine's shared servers when no
// container engine answers.
var (
	pg *testenv.PostgresServer
	mq *testenv.RabbitMQServer
)

// Deadlines of the harness. They bound waits for the server, they are never
// assertions about speed.
const (
	buildTimeout    = 5 * time.Minute
	readyTimeout    = 90 * time.Second
	shutdownTimeout = 30 * time.Second
)

// adminToken, when not empty, is sent as "Authorization: Bearer <token>" on
// every call of every client the suite builds. The harness fills it once the
// catalog's writes require the admin role.
var adminToken string

// srv is the server every test talks to, started by TestMain.
var srv *server

// server is a running cmd/server subprocess.
type server struct {
	// addr is host:port, baseURL is "http://" + addr.
	addr    string
	baseURL string
	// metricsAddr is where the server serves /metrics: a free port of its
	// own, so that several servers can run at once.
	metricsAddr string
	logPath     string
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	waitErr     error         // the result of cmd.Wait, valid after done
}

// TestMain provisions a database, builds and starts the server, runs the
// tests, and then checks that the server shuts down gracefully and logged
// nothing but JSON. testenv terminates the run's containers afterwards,
// also when the run fails or is interrupted.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(func() int { return run(m) }))
}

func run(m *testing.M) (code int) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "bookworm-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	dbURL, dropDB, err := provisionDatabase(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: database:", err)
		return 1
	}
	defer deleteRunTopology()
	defer func() {
		if err := dropDB(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: dropping the test database:", err)
			code = 1
		}
	}()

	bin, err := buildServer(ctx, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building cmd/server:", err)
		return 1
	}
	authEnv, stopIssuer, err := setUpAuth(bin, dbURL, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stopIssuer()
	defer stopSuiteCompanions(&code) // split_test.go: the topology's other processes
	s, err := startSuiteServer(ctx, bin, dbURL, tmp, append(authEnv, orderingEnv()...)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the server:", err)
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		return 1
	}
	srv = s

	code = m.Run()

	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: graceful shutdown failed:", err)
		code = 1
	}
	if err := checkJSONLogs(s.logPath); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: server logs:", err)
		code = 1
	}
	if code != 0 {
		s.dumpLogs()
	}
	return code
}

// provisionDatabase starts the run's Postgres and RabbitMQ (containers of
// the e2e package's own, through testenv) and returns the URL of a new,
// empty database on that Postgres and a function that removes it.
func provisionDatabase(ctx context.Context) (string, func() error, error) {
	var err error
	if pg, err = testenv.PackagePostgres(ctx); err != nil {
		return "", nil, err
	}
	if mq, err = testenv.PackageRabbitMQ(ctx); err != nil {
		return "", nil, err
	}
	return pg.CreateDatabase(ctx, "bookworm_e2e")
}

// repoRoot is the root of the main module; tests run in e2e/.
func repoRoot() (string, error) { return filepath.Abs("..") }

// buildServer compiles cmd/server into dir once for the whole run.
func buildServer(ctx context.Context, dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	bin := filepath.Join(dir, "bookworm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/server")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startServer runs bin against dbURL, with env added to its environment, and
// waits until /readyz answers 200. On error the returned server, when not
// nil, has logs worth printing.
func startServer(ctx context.Context, bin, dbURL, logPath string, env ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(environWithout("BOOKWORM_"),
		"BOOKWORM_ADDR="+addr,
		"BOOKWORM_DATABASE_URL="+dbURL,
		"BOOKWORM_METRICS_ADDR="+metricsAddr,
	)
	cmd.Env = append(cmd.Env, amqpEnv()...)
	cmd.Env = append(cmd.Env, env...)
	// Files the server writes relative to its working directory (the
	// development issuer's key, say) land in the run's temporary directory.
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s := &server{addr: addr, baseURL: "http://" + addr, metricsAddr: metricsAddr, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	for _, kv := range env {
		if strings.HasPrefix(kv, "BOOKWORM_TLS_CERT=") {
			s.baseURL = "https://" + addr
		}
		if v, ok := strings.CutPrefix(kv, "BOOKWORM_METRICS_ADDR="); ok {
			s.metricsAddr = v
		}
	}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// environWithout returns the environment minus the variables starting with
// prefix, so that a developer's own BOOKWORM_* settings do not leak in.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	if strings.HasPrefix(s.baseURL, "https://") {
		// Readiness only: the TLS tests verify the certificate themselves.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/readyz", nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("server not ready after %s (last: %v)", readyTimeout, describe(res, err))
		case <-tick.C:
		}
	}
}

func describe(res *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return res.Status
}

// stop sends SIGTERM and waits for the process; it fails unless the server
// exits on its own with status 0.
func (s *server) stop() error {
	select {
	case <-s.done:
		return fmt.Errorf("server had already exited: %v", s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("server exited after SIGTERM with %v", s.waitErr)
		}
		return nil
	case <-time.After(shutdownTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("server still running %s after SIGTERM; killed", shutdownTimeout)
	}
}

func (s *server) dumpLogs() {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: reading server logs:", err)
		return
	}
	fmt.Fprintf(os.Stderr, "----- server logs (%s) -----\n%s----- end of server logs -----\n", s.addr, b)
}

// checkJSONLogs fails when a line of the server's output is not a JSON
// object: the server logs with slog's JSON handler only, so anything else is
// a stray print or a crash.
func checkJSONLogs(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			bad = append(bad, string(line))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		if len(bad) > 10 {
			bad = bad[:10]
		}
		return errors.New("lines that are not JSON objects:\n" + strings.Join(bad, "\n"))
	}
	return nil
}
