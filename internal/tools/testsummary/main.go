// Command testsummary reads `go test -json` events on stdin (any number of
// runs, one after another), writes the output a plain `go test` run would
// show (package results, the output of failed tests, build errors, what
// test binaries print outside tests) and ends with one line for the whole
// run:
//
//	N passed, N failed, N skipped
//
// counting every test and subtest of every package, plus the Node tests
// that a Go test reports with a line "node tests: N passed, N failed, N
// skipped" (e2e's TestNode runs them). A package that fails without a
// failing test (a build error, a TestMain that gives up) counts as one
// failure. It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// event is the subset of test2json's TestEvent the summary needs.
type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Output     string
}

// nodeLine is what e2e's TestNode logs after the Node test run.
var nodeLine = regexp.MustCompile(`node tests: (\d+) passed, (\d+) failed, (\d+) skipped`)

type key struct{ pkg, test string }

type summary struct {
	out                     io.Writer
	passed, failed, skipped int
	// buffered output of running tests, printed only when they fail.
	buf map[key]*strings.Builder
	// failedTests counts the failed tests of each package, to tell a
	// package that failed without one.
	failedTests map[string]int
}

func main() { os.Exit(run(os.Stdin, os.Stdout)) }

// run summarizes the events of r on w and returns the exit code.
func run(r io.Reader, w io.Writer) int {
	s := &summary{out: w, buf: map[key]*strings.Builder{}, failedTests: map[string]int{}}
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: what go itself printed (a vet or setup error).
			fmt.Fprintf(s.out, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		s.failed++
	}
	fmt.Fprintf(s.out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if s.failed > 0 {
		return 1
	}
	return 0
}

func (s *summary) handle(e event) {
	switch {
	case e.Action == "build-output":
		fmt.Fprint(s.out, e.Output)
	case e.Action == "build-fail":
		// The package's "FAIL ... [build failed]" follows; counted there.
	case e.Test == "":
		s.packageEvent(e)
	default:
		s.testEvent(e)
	}
}

func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		// ok/FAIL lines, and what the binary prints outside tests
		// (TestMain's logs: the containers it started, say).
		if !strings.HasPrefix(e.Output, "PASS\n") {
			fmt.Fprint(s.out, e.Output)
		}
	case "fail":
		if s.failedTests[e.Package] == 0 {
			s.failed++
		}
	}
}

func (s *summary) testEvent(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output":
		if m := nodeLine.FindStringSubmatch(e.Output); m != nil {
			s.passed += atoi(m[1])
			s.failed += atoi(m[2])
			s.skipped += atoi(m[3])
		}
		if strings.HasPrefix(e.Output, "=== ") {
			return // RUN, PAUSE, CONT: noise in a plain run
		}
		b := s.buf[k]
		if b == nil {
			b = &strings.Builder{}
			s.buf[k] = b
		}
		b.WriteString(e.Output)
	case "pass":
		s.passed++
		delete(s.buf, k)
	case "skip":
		s.skipped++
		delete(s.buf, k)
	case "fail":
		s.failed++
		s.failedTests[e.Package]++
		if b := s.buf[k]; b != nil {
			fmt.Fprint(s.out, b.String())
		}
		delete(s.buf, k)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
