package main

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// The checks of this file name the part of a URL that is wrong and never
// quote the URL itself: url.Parse's errors and the drivers' errors repeat
// the whole string, password included, and configuration errors end up in
// logs and CI output.

// sslModes are the sslmode values libpq and pgx accept.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// checkPostgresURL reports what is wrong with the database URL raw, without
// echoing its password.
func checkPostgresURL(raw string) error {
	u, err := parseURL("database-url", raw)
	if err != nil {
		return err
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("database-url must start with postgres:// or postgresql:// (the scheme is %q)", u.Scheme)
	}
	if err := checkPort("database-url", u); err != nil {
		return err
	}
	q := u.Query()
	if mode, ok := q["sslmode"]; ok {
		if len(mode) != 1 || !slices.Contains(sslModes, mode[0]) {
			return fmt.Errorf("database-url: sslmode %s is not one of %s", quoteShort(strings.Join(mode, ",")), strings.Join(sslModes, ", "))
		}
	}
	// Whatever else pgx refuses (a bad connect_timeout, say). Its error text
	// quotes the URL (with the password masked only on a best-effort basis),
	// so only the underlying cause is shown.
	if _, err := pgconn.ParseConfig(raw); err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			return fmt.Errorf("database-url is not accepted by the Postgres driver: %v", cause)
		}
		return errors.New("database-url is not accepted by the Postgres driver")
	}
	return nil
}

// checkAMQPURL reports what is wrong with the RabbitMQ URL raw, without
// echoing its password.
func checkAMQPURL(raw string) error {
	if strings.ContainsAny(raw, " \t\r\n") {
		return errors.New("amqp-url must not contain white space")
	}
	u, err := parseURL("amqp-url", raw)
	if err != nil {
		return err
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return fmt.Errorf("amqp-url must start with amqp:// or amqps:// (the scheme is %q)", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("amqp-url has no host")
	}
	return checkPort("amqp-url", u)
}

// checkHTTPURL reports what is wrong with an http:// or https:// URL of
// another BookWorm process (catalog-url), without echoing a password.
func checkHTTPURL(name, raw string) error {
	u, err := parseURL(name, raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s must start with http:// or https:// (the scheme is %q)", name, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%s has no host", name)
	}
	return checkPort(name, u)
}

// parseURL parses raw and, when it cannot, says why without quoting raw.
func parseURL(name, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s must not be empty", name)
	}
	u, err := url.Parse(raw)
	if err == nil {
		return u, nil
	}
	var esc url.EscapeError
	if errors.As(err, &esc) {
		if inUserinfo(raw, string(esc)) {
			// Part of the password, perhaps: not quoted.
			return nil, fmt.Errorf("%s has an invalid %%-escape in its user name or password (a %% must be followed by two hex digits; write %%25 for a literal %%)", name)
		}
		return nil, fmt.Errorf("%s has an invalid %%-escape %s (a %% must be followed by two hex digits; write %%25 for a literal %%)", name, quoteShort(string(esc)))
	}
	var hostErr url.InvalidHostError
	if errors.As(err, &hostErr) {
		return nil, fmt.Errorf("%s has an invalid character %s in its host", name, quoteShort(string(hostErr)))
	}
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("%s is not a URL (scheme://host/...)", name)
	}
	var ue *url.Error
	if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), raw) {
		msg := ue.Err.Error()
		if strings.Contains(msg, "port") {
			return nil, fmt.Errorf("%s has an invalid port", name)
		}
		if !userinfoContains(raw, msg) {
			return nil, fmt.Errorf("%s is not a valid URL: %s", name, msg)
		}
	}
	return nil, fmt.Errorf("%s is not a valid URL", name)
}

// checkPort reports a port that is not a number between 1 and 65535.
func checkPort(name string, u *url.URL) error {
	p := u.Port()
	if p == "" {
		return nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: port %s must be between 1 and 65535", name, quoteShort(p))
	}
	return nil
}

// userinfo returns the user:password part of raw, if any.
func userinfo(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		return rest[:i]
	}
	return ""
}

// inUserinfo reports whether s occurs in raw's user name or password.
func inUserinfo(raw, s string) bool {
	ui := userinfo(raw)
	return ui != "" && strings.Contains(ui, s)
}

// userinfoContains reports whether msg quotes any part of raw's password.
func userinfoContains(raw, msg string) bool {
	_, pw, ok := strings.Cut(userinfo(raw), ":")
	return ok && pw != "" && strings.Contains(msg, pw)
}

// quoteShort quotes s, cut to a length fit for an error message.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}
