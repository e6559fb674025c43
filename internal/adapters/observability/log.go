package observability

import (
	"context"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the trace attributes LogHandler adds.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// redacted replaces a secret in a log record.
const redacted = "[REDACTED]"

// NewLogHandler wraps next (slog's JSON handler, say) so that every record
// logged with a context holding a span carries the span's trace_id and
// span_id, and no record carries a secret: attributes named like one
// (password, token, secret, authorization, cookie, ...) have their values
// replaced, and so do passwords in URLs ("postgres://u:xxxxx@host"), bearer
// tokens and JWTs found in the message, string attributes and errors.
//
// The trace attributes go where the record's other attributes go: into the
// innermost group opened with WithGroup, if any.
func NewLogHandler(next slog.Handler) slog.Handler { return logHandler{next: next} }

type logHandler struct{ next slog.Handler }

func (h logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	dirty := containsSecret(r.Message)
	durations := false
	r.Attrs(func(a slog.Attr) bool {
		dirty = dirty || attrHasSecret(a)
		durations = durations || attrHasDuration(a)
		return !dirty || !durations
	})
	if dirty || durations {
		msg := r.Message
		if dirty {
			msg = redactString(msg)
		}
		clean := slog.NewRecord(r.Time, r.Level, msg, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			if dirty {
				a = redactAttr(a)
			}
			clean.AddAttrs(readableDuration(a))
			return true
		})
		r = clean
	}
	if sc.IsValid() {
		r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = readableDuration(redactAttr(a))
	}
	return logHandler{next: h.next.WithAttrs(clean)}
}

// attrHasDuration reports whether a, or an attribute in its group, holds a
// time.Duration.
func attrHasDuration(a slog.Attr) bool {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return true
	case slog.KindGroup:
		for _, g := range a.Value.Group() {
			if attrHasDuration(g) {
				return true
			}
		}
	}
	return false
}

// readableDuration writes durations as people read them ("1.5s", not the
// 1500000000 nanoseconds slog's JSON handler writes), in a and in its
// groups, wherever in the code base they were logged.
func readableDuration(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindGroup:
		group := a.Value.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = readableDuration(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return a
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{next: h.next.WithGroup(name)}
}

// secretKeyParts are the substrings of an attribute key (lower-cased) that
// mark its value as secret.
var secretKeyParts = []string{
	"password", "passwd", "secret", "token", "authorization", "cookie",
	"api_key", "apikey", "private_key", "privatekey", "credential",
}

func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// attrHasSecret reports whether redactAttr would change a.
func attrHasSecret(a slog.Attr) bool {
	if isSecretKey(a.Key) {
		return a.Value.Kind() != slog.KindString || a.Value.String() != redacted
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return containsSecret(v.String())
	case slog.KindGroup:
		for _, g := range v.Group() {
			if attrHasSecret(g) {
				return true
			}
		}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			return containsSecret(err.Error())
		}
	}
	return false
}

// redactAttr returns a with its secrets replaced.
func redactAttr(a slog.Attr) slog.Attr {
	if isSecretKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); containsSecret(s) {
			return slog.String(a.Key, redactString(s))
		}
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = redactAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			if s := err.Error(); containsSecret(s) {
				return slog.String(a.Key, redactString(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// containsSecret is the cheap test: true when s may hold a URL password, a
// bearer token or a JWT.
func containsSecret(s string) bool {
	if i := strings.Index(s, "://"); i >= 0 && strings.Contains(s[i:], "@") {
		return redactString(s) != s
	}
	return strings.Contains(s, "eyJ") || strings.Contains(strings.ToLower(s), "bearer ")
}

// redactString masks the passwords of URLs in s, bearer tokens and JWTs.
func redactString(s string) string {
	s = redactURLPasswords(s)
	s = redactBearer(s)
	return redactJWTs(s)
}

// redactURLPasswords replaces the password of each scheme://user:password@
// in s by "xxxxx", as url.URL.Redacted does.
func redactURLPasswords(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		authStart := i + len("://")
		// The authority ends at the first '/', '?', '#' or white space.
		authEnd := len(rest)
		for j := authStart; j < len(rest); j++ {
			if c := rest[j]; c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' {
				authEnd = j
				break
			}
		}
		authority := rest[authStart:authEnd]
		at := strings.LastIndex(authority, "@")
		colon := -1
		if at >= 0 {
			colon = strings.Index(authority[:at], ":")
		}
		if colon < 0 {
			b.WriteString(rest[:authEnd])
			rest = rest[authEnd:]
			continue
		}
		b.WriteString(rest[:authStart+colon+1])
		b.WriteString("xxxxx")
		b.WriteString(rest[authStart+at : authEnd])
		rest = rest[authEnd:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// redactBearer replaces what follows "Bearer " (any case) up to the next
// white space or quote.
func redactBearer(s string) string {
	lower := strings.ToLower(s)
	var b strings.Builder
	from := 0
	for {
		i := strings.Index(lower[from:], "bearer ")
		if i < 0 {
			break
		}
		start := from + i + len("bearer ")
		end := tokenEnd(s, start)
		if end == start {
			b.WriteString(s[from:start])
			from = start
			continue
		}
		b.WriteString(s[from:start])
		b.WriteString(redacted)
		from = end
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

// redactJWTs replaces each run that looks like a JWT (three base64url
// segments, the first starting with "eyJ", the encoding of `{"`).
func redactJWTs(s string) string {
	var b strings.Builder
	from := 0
	for {
		i := strings.Index(s[from:], "eyJ")
		if i < 0 {
			break
		}
		start := from + i
		end := tokenEnd(s, start)
		if strings.Count(s[start:end], ".") == 2 {
			b.WriteString(s[from:start])
			b.WriteString(redacted)
		} else {
			b.WriteString(s[from:end])
		}
		from = end
		if end == start { // cannot happen ("eyJ" is token text); be safe
			b.WriteString(s[from : from+1])
			from++
		}
	}
	if from == 0 {
		return s
	}
	b.WriteString(s[from:])
	return b.String()
}

// tokenEnd returns the end of the run of token characters (base64url and
// '.', '=', '+', '/') starting at start.
func tokenEnd(s string, start int) int {
	for j := start; j < len(s); j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/') {
			return j
		}
	}
	return len(s)
}
