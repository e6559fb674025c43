package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestNotificationConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	t.Run("defaults fit the local Mailpit and the seed's hourly jobs", func(t *testing.T) {
		c, err := parseConfig(nil, env(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		n := c.Notification
		if n.SMTPHost != "127.0.0.1" || n.SMTPPort != 1025 || n.SMTPUsername != "" || n.RetryInterval != time.Hour ||
			n.CleanupInterval != time.Hour || n.ShopName != "BookWorm" {
			t.Fatalf("defaults %+v", n)
		}
	})
	t.Run("the URL replaces the separate settings", func(t *testing.T) {
		c, err := parseConfig([]string{"--smtp-host", "ignored"}, env("BOOKWORM_SMTP_URL", "smtp://mailer:p%40ss%3Aw0rd@mail.example:587"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		n := c.Notification
		if n.SMTPHost != "mail.example" || n.SMTPPort != 587 || n.SMTPUsername != "mailer" || n.SMTPPassword != "p@ss:w0rd" {
			t.Fatalf("from the URL: %+v", n)
		}
		c, err = parseConfig(nil, env("BOOKWORM_SMTP_URL", "smtp://mail.example"), io.Discard)
		if err != nil || c.Notification.SMTPPort != 25 {
			t.Fatalf("no port: %+v, %v", c.Notification, err)
		}
	})
	t.Run("separate settings", func(t *testing.T) {
		c, err := parseConfig([]string{"--smtp-host", "smtp.example", "--smtp-port", "2525", "--smtp-username", "u"},
			env("BOOKWORM_SMTP_PASSWORD", "hunter2-secret"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if n := c.Notification; n.SMTPHost != "smtp.example" || n.SMTPPort != 2525 || n.SMTPUsername != "u" || n.SMTPPassword != "hunter2-secret" {
			t.Fatalf("%+v", n)
		}
	})
	bad := []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"a URL of another scheme", nil, env("BOOKWORM_SMTP_URL", "http://u:hunter2-secret@h:25"), "smtp-url must start with smtp://"},
		{"a bad port", nil, env("BOOKWORM_SMTP_URL", "smtp://u:hunter2-secret@h:99999"), "smtp-url: port"},
		{"a bad escape in the password", nil, env("BOOKWORM_SMTP_URL", "smtp://u:hunter2-secret%zz@h:25"), "invalid %-escape in its user name or password"},
		{"something after the port", nil, env("BOOKWORM_SMTP_URL", "smtp://u:hunter2-secret@h:25/x?y=1"), "nothing after the port"},
		{"a password without a user", nil, env("BOOKWORM_SMTP_PASSWORD", "hunter2-secret"), "smtp-password is set but smtp-username is not"},
		{"a bad sender", []string{"--mail-from", "nobody"}, env(), "mail-from"},
		{"a relative shop URL", []string{"--shop-url", "/shop"}, env(), "shop-url must be an absolute"},
		{"a zero interval", []string{"--mail-retry-interval", "0s"}, env(), "mail-retry-interval must be positive"},
		{"no attempts", []string{"--mail-max-attempts", "0"}, env(), "mail-max-attempts"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := parseConfig(b.args, b.env, io.Discard)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("error %v, want one containing %q", err, b.want)
			}
			if strings.Contains(err.Error(), "hunter2-secret") {
				t.Fatalf("the error quotes the password: %v", err)
			}
		})
	}
	t.Run("--help never shows the password or the URL", func(t *testing.T) {
		var out bytes.Buffer
		_, err := parseConfig([]string{"--help"}, env("BOOKWORM_SMTP_URL", "smtp://u:hunter2-secret@h:25", "BOOKWORM_SMTP_PASSWORD", "hunter2-secret"), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("--help: %v", err)
		}
		if !strings.Contains(out.String(), "smtp-password") || strings.Contains(out.String(), "hunter2-secret") {
			t.Fatalf("help text:\n%s", out.String())
		}
	})
}
