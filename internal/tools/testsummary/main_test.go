package main

import (
	"strings"
	"testing"
)

// TestSummary feeds a run with passing, failing and skipped tests, Node
// counts, a package that fails without a failing test and a build error.
func TestSummary(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"a"}`,
		`{"Action":"run","Package":"a","Test":"TestOK"}`,
		`{"Action":"output","Package":"a","Test":"TestOK","Output":"=== RUN   TestOK\n"}`,
		`{"Action":"output","Package":"a","Test":"TestOK","Output":"    chatty log of a passing test\n"}`,
		`{"Action":"pass","Package":"a","Test":"TestOK"}`,
		`{"Action":"output","Package":"a","Test":"TestNode","Output":"    node_test.go:50: node tests: 7 passed, 1 failed, 2 skipped\n"}`,
		`{"Action":"pass","Package":"a","Test":"TestNode"}`,
		`{"Action":"skip","Package":"a","Test":"TestSkipped"}`,
		`{"Action":"output","Package":"a","Test":"TestBad/sub","Output":"    bad_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"a","Test":"TestBad/sub"}`,
		`{"Action":"fail","Package":"a","Test":"TestBad"}`,
		`{"Action":"output","Package":"a","Output":"FAIL\ta\t0.1s\n"}`,
		`{"Action":"fail","Package":"a"}`,
		`{"Action":"output","Package":"b","Output":"testenv: no engine\n"}`,
		`{"Action":"fail","Package":"b"}`,
		`{"ImportPath":"c","Action":"build-output","Output":"c/x.go:1:1: syntax error\n"}`,
		`{"ImportPath":"c","Action":"build-fail"}`,
		`{"Action":"fail","Package":"c"}`,
		`go: a line go printed itself`,
	}, "\n")
	var out strings.Builder
	code := run(strings.NewReader(in), &out)
	got := out.String()
	for _, want := range []string{"boom", "FAIL\ta", "testenv: no engine", "syntax error", "go: a line go printed itself",
		"\n9 passed, 5 failed, 3 skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"=== RUN", "chatty log"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output shows %q, which a plain go test run hides:\n%s", unwanted, got)
		}
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.HasSuffix(got, "9 passed, 5 failed, 3 skipped\n") {
		t.Errorf("the summary is not the last line:\n%s", got)
	}
}
