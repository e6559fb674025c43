package stripe_test

import (
	"bufio"
	"context"
	"fmt"
	"go/build"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe/stripetest"
)

// stripeMock is one stripe-mock process (github.com/stripe/stripe-mock,
// Stripe's own mock of its API, validating every request against Stripe's
// OpenAPI spec) started for this package's tests.
var stripeMock struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if stripeMock.cmd != nil {
		_ = stripeMock.cmd.Process.Kill()
		_ = stripeMock.cmd.Wait()
	}
	os.Exit(code)
}

// stripeMockBinary finds the stripe-mock binary: on PATH, else where go
// install puts it.
func stripeMockBinary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			gopath = build.Default.GOPATH
		}
		gobin = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin")
	}
	p := filepath.Join(gobin, "stripe-mock")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("stripe-mock is not installed (go install github.com/stripe/stripe-mock@v0.203.0; .ci/run does): %w", err)
	}
	return p, nil
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// startStripeMock returns the base URL of the package's stripe-mock, started
// on a free port at first use and killed after the tests. A missing binary
// fails the test: these tests are never skipped.
func startStripeMock(t testing.TB) string {
	t.Helper()
	stripeMock.once.Do(func() {
		bin, err := stripeMockBinary()
		if err != nil {
			stripeMock.err = err
			return
		}
		cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
		out, err := cmd.StdoutPipe()
		if err != nil {
			stripeMock.err = err
			return
		}
		cmd.Stderr = cmd.Stdout
		dieWithTest(cmd)
		if err := cmd.Start(); err != nil {
			stripeMock.err = err
			return
		}
		stripeMock.cmd = cmd
		found := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			sent := false
			for sc.Scan() {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
					found <- m[1]
					sent = true
				}
			}
		}()
		select {
		case addr := <-found:
			stripeMock.url = "http://" + addr
		case <-time.After(30 * time.Second):
			stripeMock.err = fmt.Errorf("stripe-mock did not say where it listens within 30 s")
		}
	})
	if stripeMock.err != nil {
		t.Fatal(stripeMock.err)
	}
	return stripeMock.url
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// recordingProxy starts a proxy to target that records every call.
func recordingProxy(t *testing.T, target string) (string, *stripetest.Recorder) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &stripetest.Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := stripetest.ReadCall(r)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		c.Status = sw.status
		rec.Add(c)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
