package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestURLErrors checks that a bad database or RabbitMQ URL is reported by
// the part that is wrong, and that the password never appears.
func TestURLErrors(t *testing.T) {
	const password = "Pa55w0rdXYZ"
	tests := []struct {
		name  string
		flag  string
		url   string
		wants []string // every one must appear in the error
	}{
		{name: "bad sslmode", flag: "--database-url", url: "postgres://app:" + password + "@db.example:5432/bookworm?sslmode=bogus",
			wants: []string{"sslmode", `"bogus"`, "disable", "require", "verify-full"}},
		{name: "bad escape in path", flag: "--database-url", url: "postgres://app:" + password + "@db.example/bad%zz",
			wants: []string{"database-url", "invalid %-escape", "%zz"}},
		{name: "bad escape in password", flag: "--database-url", url: "postgres://app:" + password + "%zz@db.example/bookworm",
			wants: []string{"database-url", "invalid %-escape", "password"}},
		{name: "bad port", flag: "--database-url", url: "postgres://app:" + password + "@db.example:54x2/bookworm",
			wants: []string{"database-url", "port"}},
		{name: "port out of range", flag: "--database-url", url: "postgres://app:" + password + "@db.example:99999/bookworm",
			wants: []string{"database-url", "port", "65535"}},
		{name: "other scheme", flag: "--database-url", url: "mysql://app:" + password + "@db.example/bookworm",
			wants: []string{"database-url", "postgres://", `"mysql"`}},
		{name: "bad driver parameter", flag: "--database-url", url: "postgres://app:" + password + "@db.example/bookworm?connect_timeout=soon",
			wants: []string{"database-url", "Postgres driver"}},
		{name: "amqp bad escape", flag: "--amqp-url", url: "amqp://guest:" + password + "@mq.example/%zz",
			wants: []string{"amqp-url", "invalid %-escape"}},
		{name: "amqp bad escape in password", flag: "--amqp-url", url: "amqp://guest:" + password + "%G1@mq.example/",
			wants: []string{"amqp-url", "password"}},
		{name: "amqp other scheme", flag: "--amqp-url", url: "http://guest:" + password + "@mq.example/",
			wants: []string{"amqp-url", "amqp://", `"http"`}},
		{name: "amqp bad port", flag: "--amqp-url", url: "amqp://guest:" + password + "@mq.example:0/",
			wants: []string{"amqp-url", "port"}},
		{name: "amqp no host", flag: "--amqp-url", url: "amqp://guest:" + password + "@/",
			wants: []string{"amqp-url", "no host"}},
		{name: "amqp white space", flag: "--amqp-url", url: "amqp://guest:" + password + "@mq.example/ vhost",
			wants: []string{"amqp-url", "white space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]string{tt.flag, tt.url}, func(string) string { return "" }, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tt.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, password) || strings.Contains(msg, "db.example") && strings.Contains(msg, "app:") {
				t.Errorf("error echoes the URL or its password: %q", msg)
			}
			if strings.Contains(msg, "must be a postgres:// URL") {
				t.Errorf("error blames the scheme: %q", msg)
			}
		})
	}

	// Good URLs pass.
	for _, args := range [][]string{
		{"--database-url", "postgres://app:" + password + "@db.example:5432/bookworm?sslmode=verify-full&pool_max_conns=10"},
		{"--database-url", "postgresql://app@db.example/book%20worm"},
		{"--amqp-url", "amqps://guest:" + password + "@mq.example:5671/bookworm"},
	} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestHelpListsSubcommands checks that --help names every subcommand with
// a line of its own, before the flags.
func TestHelpListsSubcommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, io.Discard, &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, sub := range []string{"serve", "dev-token"} {
		found := false
		for line := range strings.SplitSeq(help, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == sub {
				found = true
			}
		}
		if !found {
			t.Errorf("--help has no line for the %s subcommand:\n%s", sub, help)
		}
	}
	if !strings.Contains(help, "-database-url") || strings.Index(help, "dev-token") > strings.Index(help, "-database-url") {
		t.Errorf("--help does not list the subcommands before the flags:\n%s", help)
	}
}
