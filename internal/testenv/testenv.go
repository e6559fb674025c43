package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Labels every container of this package carries. runLabel names the test
// binary's run, so that Run can check that none of its containers remains;
// pidLabel and hostLabel let a later run remove what a run that died left.
const (
	ownerLabel = "org.bookworm.testenv"
	runLabel   = "org.bookworm.testenv.run"
	pidLabel   = "org.bookworm.testenv.pid"
	hostLabel  = "org.bookworm.testenv.host"
)

// podmanSocket is where scripts/container-engine.sh serves podman's Docker
// API.
const podmanSocket = "/run/podman/podman.sock"

// ErrShared is returned by the fault helpers of a server that is the
// machine's shared one (the fallback): it must never be stopped or paused.
var ErrShared = errors.New("testenv: a shared server cannot be stopped, started or paused")

// runID names this test binary's run in the labels of its containers.
var runID = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// logf writes a line of the package's log to stderr, where go test shows
// it with the package's output.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testenv: "+format+"\n", args...)
}

// requireContainers reports whether falling back to the shared services is
// an error (CI sets BOOKWORM_REQUIRE_CONTAINERS=1).
func requireContainers() bool { return os.Getenv("BOOKWORM_REQUIRE_CONTAINERS") == "1" }

// engine is the container engine of the run, found once.
type engine struct {
	client *testcontainers.DockerClient
}

var (
	engineOnce sync.Once
	theEngine  *engine
	engineWhy  string // why there is none
)

// getEngine returns the engine, or nil and why none answers.
func getEngine() (*engine, string) {
	engineOnce.Do(func() {
		if os.Getenv("DOCKER_HOST") == "" {
			if _, err := os.Stat(podmanSocket); err == nil {
				os.Setenv("DOCKER_HOST", "unix://"+podmanSocket)
			}
		}
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			// The reaper's image cannot be pulled here; Run terminates
			// the containers instead.
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		theEngine, engineWhy = probe()
		// A busy machine's engine can take longer than one probe to
		// answer (seen under CI load: "context deadline exceeded"); where
		// containers are required, ask twice more before failing.
		for try := 0; theEngine == nil && requireContainers() && try < 2; try++ {
			logf("the container engine did not answer (%s); asking again", engineWhy)
			time.Sleep(2 * time.Second)
			theEngine, engineWhy = probe()
		}
		if theEngine != nil {
			reapOrphans(theEngine)
		}
	})
	return theEngine, engineWhy
}

// probe asks the engine for a ping the way testcontainers'
// SkipIfProviderIsNotHealthy does, but reports instead of skipping (the
// client panics on some misconfigurations: that is a "no" too).
func probe() (e *engine, why string) {
	defer func() {
		if r := recover(); r != nil {
			e, why = nil, fmt.Sprint(r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		c.Close()
		return nil, err.Error()
	}
	return &engine{client: c}, ""
}

// reapOrphans removes the containers that runs of this host whose process
// is gone left behind (a test binary killed by go test's -timeout, say).
func reapOrphans(e *engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host, _ := os.Hostname()
	res, err := e.client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", ownerLabel)})
	if err != nil {
		logf("listing containers: %v", err)
		return
	}
	for _, c := range res.Items {
		pid, err := strconv.Atoi(c.Labels[pidLabel])
		if err != nil || c.Labels[hostLabel] != host || processAlive(pid) {
			continue
		}
		logf("removing container %.12s left by process %d, which is gone", c.ID, pid)
		_, _ = e.client.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Run runs the tests of m and terminates every container the package
// started, also on SIGINT and SIGTERM. It returns m.Run's code, or 1 when a
// container of the run remains afterwards. Call it from TestMain.
func Run(m *testing.M) int { return Main(m.Run) }

// Main is Run for a TestMain that does more around m.Run: main is its body
// (it starts servers, calls m.Run, ...) and returns the exit code.
func Main(main func() int) (code int) {
	runMu.Lock()
	running = true
	runMu.Unlock()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		logf("%v: terminating the run's containers", s)
		terminateAll()
		os.Exit(130)
	}()
	defer func() {
		signal.Stop(sigs)
		close(sigs)
		terminateAll()
		if err := checkNoneRemain(); err != nil {
			logf("%v", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return main()
}

var (
	runMu   sync.Mutex
	running bool
	// live are the containers started and not terminated yet.
	live = map[*Container]struct{}{}
)

func terminateAll() {
	runMu.Lock()
	cs := make([]*Container, 0, len(live))
	for c := range live {
		cs = append(cs, c)
	}
	runMu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			if err := c.Terminate(); err != nil {
				logf("terminating %s: %v", c.name, err)
			}
		})
	}
	wg.Wait()
}

// checkNoneRemain fails when the engine still has a container of this run.
func checkNoneRemain() error {
	e, _ := getEngine()
	if e == nil {
		return nil
	}
	ids, err := runContainers(e, runLabel+"="+runID)
	if err != nil {
		return fmt.Errorf("listing the run's containers: %w", err)
	}
	if len(ids) > 0 {
		return fmt.Errorf("%d container(s) of the run remain after cleanup: %v", len(ids), ids)
	}
	return nil
}

// runContainers lists the ids of the containers with label (key=value).
func runContainers(e *engine, label string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", label)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID[:12])
	}
	return ids, nil
}

// Container is a server in a container of the run. Its host port is fixed
// for its whole life, so that clients reconnect to the same address after
// Stop and Start. A nil *Container is a shared server: its fault methods
// return ErrShared.
type Container struct {
	name       string // "postgres" or "rabbitmq", for messages
	c          *testcontainers.DockerContainer
	e          *engine
	port       string // host port on 127.0.0.1
	ready      func(context.Context) error
	mu         sync.Mutex
	terminated bool // by Terminate: nothing left to do
}

// ID is the container's id (for podman or docker commands).
func (c *Container) ID() string {
	if c == nil {
		return ""
	}
	return c.c.GetContainerID()
}

// Stop stops the server's container (SIGTERM, or the image's stop signal,
// then SIGKILL after 10 s): clients see their connections closed and new
// ones refused until Start.
func (c *Container) Stop(ctx context.Context) error {
	if c == nil {
		return ErrShared
	}
	timeout := 10 * time.Second
	if err := c.c.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stopping %s: %w", c.name, err)
	}
	return nil
}

// Start starts the stopped container again, on the same host port, and
// waits until the server answers.
func (c *Container) Start(ctx context.Context) error {
	if c == nil {
		return ErrShared
	}
	if err := c.c.Start(ctx); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	return c.ready(ctx)
}

// Pause freezes every process of the container (the cgroup freezer): the
// server's sockets stay open but nothing answers, as behind a network
// partition.
func (c *Container) Pause(ctx context.Context) error {
	if c == nil {
		return ErrShared
	}
	_, err := c.e.client.ContainerPause(ctx, c.ID(), client.ContainerPauseOptions{})
	return err
}

// Unpause thaws a paused container.
func (c *Container) Unpause(ctx context.Context) error {
	if c == nil {
		return ErrShared
	}
	_, err := c.e.client.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	return err
}

// Exec runs cmd in the container and returns its combined output; a
// non-zero exit status is an error.
func (c *Container) Exec(ctx context.Context, cmd ...string) (string, error) {
	if c == nil {
		return "", ErrShared
	}
	code, r, err := c.c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("%s: exec %s: %w", c.name, strings.Join(cmd, " "), err)
	}
	var out []byte
	if r != nil {
		out, _ = io.ReadAll(r)
	}
	if code != 0 {
		return string(out), fmt.Errorf("%s: exec %s: exit status %d: %s", c.name, strings.Join(cmd, " "), code, out)
	}
	return string(out), nil
}

// Terminate stops and removes the container. Run does it for every
// container still running at the end; tests may do it earlier.
func (c *Container) Terminate() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terminated {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A paused container cannot be stopped: thaw it first (an error here
	// just means it was not paused).
	_, _ = c.e.client.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{})
	err := c.c.Terminate(ctx, testcontainers.StopTimeout(5*time.Second))
	if err != nil {
		// Force it: a container must not outlive the run.
		_, err = c.e.client.ContainerRemove(ctx, c.ID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	if err == nil {
		c.terminated = true
		runMu.Lock()
		delete(live, c)
		runMu.Unlock()
	}
	return err
}

// spec describes a server container to start.
type spec struct {
	name     string // recipe name
	port     string // the server's port in the container, "5432/tcp"
	official string // official image
	env      map[string]string
	cmd      []string // for the official image
	waitLog  string
	waitN    int // occurrences of waitLog in the official image
	ready    func(ctx context.Context, hostPort string) error
	labels   map[string]string
}

// startContainer starts s on a free host port of 127.0.0.1 that stays its
// port across restarts.
func startContainer(ctx context.Context, e *engine, s spec) (*Container, error) {
	runMu.Lock()
	ok := running
	runMu.Unlock()
	if !ok {
		return nil, errors.New("testenv: call testenv.Run(m) from TestMain: it terminates the containers")
	}
	image, occurrences := s.official, s.waitN
	var cmd []string
	env := s.env
	if officialImages() {
		cmd = s.cmd
	} else {
		var err error
		if image, err = ensureImage(ctx, e, s.name); err != nil {
			return nil, err
		}
		occurrences, env = 1, nil
	}
	hostPort, err := freePort()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	labels := map[string]string{
		ownerLabel: "1",
		runLabel:   runID,
		pidLabel:   strconv.Itoa(os.Getpid()),
		hostLabel:  host,
	}
	for k, v := range s.labels {
		labels[k] = v
	}
	port := network.MustParsePort(s.port)
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			ExposedPorts: []string{s.port},
			Env:          env,
			Cmd:          cmd,
			Labels:       labels,
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}}}
			},
			WaitingFor: wait.ForLog(s.waitLog).WithOccurrence(occurrences).WithStartupTimeout(3 * time.Minute),
		},
		Started: true,
	}
	start := time.Now()
	tc, err := testcontainers.GenericContainer(ctx, req)
	c := &Container{name: s.name, e: e, port: hostPort}
	if tc != nil {
		dc, _ := tc.(*testcontainers.DockerContainer)
		c.c = dc
		runMu.Lock()
		live[c] = struct{}{}
		runMu.Unlock()
	}
	if err != nil {
		if c.c != nil {
			_ = c.Terminate()
		}
		return nil, fmt.Errorf("starting a %s container (%s): %w", s.name, image, err)
	}
	c.ready = func(ctx context.Context) error { return s.ready(ctx, hostPort) }
	if err := c.ready(ctx); err != nil {
		_ = c.Terminate()
		return nil, err
	}
	logf("%s container %.12s (%s) ready on 127.0.0.1:%s in %s", s.name, c.ID(), image, hostPort, time.Since(start).Round(10*time.Millisecond))
	return c, nil
}

// freePort returns a port of 127.0.0.1 nobody listens on now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// poll calls try until it succeeds or ctx (bounded by limit) ends.
func poll(ctx context.Context, limit time.Duration, what string, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		err := try(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w", what, limit, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fallback decides what a package does without an engine: the shared
// server (loudly), or an error when containers are required.
func fallback(what, why, sharedURL string) error {
	if requireContainers() {
		return fmt.Errorf("testenv: no container engine answers (%s) and BOOKWORM_REQUIRE_CONTAINERS=1: refusing to fall back to the machine's shared %s; run scripts/container-engine.sh", why, what)
	}
	logf("!!!!!!!! NO CONTAINER ENGINE (%s): the tests use the machine's SHARED %s at %s; fault tests are skipped. Run scripts/container-engine.sh to get containers. !!!!!!!!", why, what, redact(sharedURL))
	return nil
}

// redact hides a URL's password in log lines.
func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 {
			if colon := strings.Index(u[scheme+3:at], ":"); colon >= 0 {
				return u[:scheme+3+colon+1] + "xxxxx" + u[at:]
			}
		}
	}
	return u
}
