// Package smtptest runs a real SMTP server for tests: Mailpit
// (github.com/axllent/mailpit, installed with `go install
// github.com/axllent/mailpit@v1.27.11`; .ci/run installs it), started as a
// process on free loopback ports and stopped at cleanup, and a client of
// its HTTP API to read what it received. A test fails, never skips, when
// the binary is missing. Import it from tests only.
package smtptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Mailpit is one Mailpit process of a test. Its ports and its database
// stay the same across Stop and Start, as a restarted mail server's would.
type Mailpit struct {
	// SMTPAddr is host:port of its SMTP server; Host and Port the same
	// apart. APIURL is the base URL of its web UI and HTTP API.
	SMTPAddr string
	Host     string
	Port     int
	APIURL   string

	t    testing.TB
	bin  string
	args []string
	log  *bytes.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of the mailpit binary: on PATH, or in
// $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mailpit not found on PATH nor in GOPATH/bin: go install github.com/axllent/mailpit@v1.27.11")
}

// FreePort returns a loopback port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartMailpit starts Mailpit on free loopback ports, with extra flags
// (--smtp-allowed-recipients, --smtp-tls-cert, ...), and stops it when t
// ends. It fails t when Mailpit is not installed or does not come up.
func StartMailpit(t testing.TB, extra ...string) *Mailpit {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	smtpPort, httpPort := FreePort(t), FreePort(t)
	dir := t.TempDir()
	m := &Mailpit{
		SMTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		Host:     "127.0.0.1",
		Port:     smtpPort,
		APIURL:   "http://127.0.0.1:" + strconv.Itoa(httpPort),
		t:        t,
		bin:      bin,
		log:      &bytes.Buffer{},
		args: append([]string{
			"--smtp", "127.0.0.1:" + strconv.Itoa(smtpPort),
			"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
			// A file, so that the mail it took survives a restart.
			"--database", filepath.Join(dir, "mailpit.db"),
			"--disable-version-check", "--smtp-disable-rdns", "--enable-chaos",
		}, extra...),
	}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("mailpit output:\n%s", m.output())
		}
	})
	m.Start()
	return m
}

func (m *Mailpit) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// Start starts the process (again) and waits until its API and SMTP
// server answer.
func (m *Mailpit) Start() {
	m.t.Helper()
	m.mu.Lock()
	if m.cmd != nil {
		m.mu.Unlock()
		m.t.Fatal("mailpit is running already")
	}
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout = &syncBuffer{m}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatalf("start mailpit: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(m.APIURL + "/api/v1/info")
		if err == nil {
			res.Body.Close()
			if c, err := net.DialTimeout("tcp", m.SMTPAddr, time.Second); err == nil {
				c.Close()
				if res.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case <-done:
			m.t.Fatalf("mailpit exited at start:\n%s", m.output())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mailpit did not come up:\n%s", m.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer collects the process's output under the Mailpit's lock.
type syncBuffer struct{ m *Mailpit }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.log.Write(p)
}

// Stop stops the process (SIGTERM, then SIGKILL after 10 seconds) and
// waits until its SMTP port refuses connections: the mail server is down.
func (m *Mailpit) Stop() {
	m.t.Helper()
	m.stop()
}

func (m *Mailpit) stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Summary is one message of the list GET /api/v1/messages returns.
type Summary struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Subject   string
}

// Address is a mailbox as the API gives it.
type Address struct {
	Name    string
	Address string
}

// Message is one message as GET /api/v1/message/{ID} returns it.
type Message struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Subject   string
	Text      string
	HTML      string
}

func (m *Mailpit) get(path string, out any) {
	m.t.Helper()
	res, err := http.Get(m.APIURL + path)
	if err != nil {
		m.t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		m.t.Fatalf("mailpit API %s: %s: %s", path, res.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		m.t.Fatalf("mailpit API %s: %v", path, err)
	}
}

// Messages returns every message Mailpit holds, newest first.
func (m *Mailpit) Messages() []Summary {
	m.t.Helper()
	var page struct {
		Total    int
		Messages []Summary
	}
	m.get("/api/v1/messages?limit=1000", &page)
	return page.Messages
}

// Message returns one message with both its parts.
func (m *Mailpit) Message(id string) Message {
	m.t.Helper()
	var msg Message
	m.get("/api/v1/message/"+id, &msg)
	return msg
}

// Headers returns the headers of one message.
func (m *Mailpit) Headers(id string) map[string][]string {
	m.t.Helper()
	h := map[string][]string{}
	m.get("/api/v1/message/"+id+"/headers", &h)
	return h
}

// WaitMessages waits until Mailpit holds at least n messages and returns
// them; it fails t after timeout.
func (m *Mailpit) WaitMessages(n int, timeout time.Duration) []Summary {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := m.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mailpit holds %d messages after %s, want %d", len(msgs), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Chaos makes Mailpit answer the RCPT TO of every message (probability
// 100) with code, or answer normally again with probability 0.
func (m *Mailpit) Chaos(code, probability int) {
	m.t.Helper()
	body, _ := json.Marshal(map[string]any{"Recipient": map[string]int{"ErrorCode": code, "Probability": probability}})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, m.APIURL+"/api/v1/chaos", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		m.t.Fatalf("mailpit chaos: %s: %s", res.Status, b)
	}
}
