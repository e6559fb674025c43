package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// SourceScheme starts every ce-source BookWorm writes:
// "bookworm://<deployment id>/<context>", for example
// "bookworm://0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60/catalog".
const SourceScheme = "bookworm://"

// Source is the ce-source of the events that context publishes in the
// deployment whose identity is deployment.
func Source(deployment, context string) string {
	return SourceScheme + deployment + "/" + context
}

// ParseSource splits a ce-source written by Source into the deployment
// identity (canonical UUID text) and the context; ok is false for any
// other source (another producer, or a BookWorm from before deployments
// had identities).
func ParseSource(source string) (deployment, context string, ok bool) {
	rest, found := strings.CutPrefix(source, SourceScheme)
	if !found {
		return "", "", false
	}
	dep, ctxName, found := strings.Cut(rest, "/")
	if !found || ctxName == "" || strings.Contains(ctxName, "/") {
		return "", "", false
	}
	id, err := uuid.Parse(dep)
	if err != nil || len(dep) != 36 {
		return "", "", false
	}
	return id.String(), ctxName, true
}

// DeploymentShort is the part of a deployment identity that names its
// queues: the last 12 hex digits of the UUID, which are random in a
// UUIDv7 (its first digits are the creation time, which two deployments
// made in the same millisecond share).
func DeploymentShort(deployment string) string {
	s := strings.ReplaceAll(deployment, "-", "")
	if len(s) < 12 {
		return s
	}
	return s[len(s)-12:]
}

// ErrPermanent marks a handler failure that no retry can cure: the message
// contradicts what the consumer knows (an anomaly, not a transient fault).
// Consumers send such a message to the dead-letter queue at once.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// ConsumerStats are the counters of a Guard: a plain value metrics read
// (observability exports them) without knowing the broker.
type ConsumerStats struct {
	// Foreign counts events dropped because another deployment (or a
	// producer without a deployment) published them.
	Foreign uint64
	// Permanent counts handler failures marked Permanent: anomalies sent
	// to the dead-letter queue, each worth an operator's look.
	Permanent uint64
}

// maxLoggedSources bounds how many distinct foreign sources a Guard logs
// once each; after that it logs every logEveryDrop-th drop, so that a
// flood of foreign events does not flood the log.
const (
	maxLoggedSources = 64
	logEveryDrop     = 1024
)

// Guard keeps the events of other deployments out of a deployment's
// consumers. Many deployments may share one broker (and even one exchange):
// each one's queues are its own, but an exchange routes every event to every
// bound queue, so a consumer must not act on an event its own deployment did
// not publish (a ReviewCreated of a book this catalog never heard of would
// otherwise turn into a rejection that deletes a review in the deployment
// that published it). The composition root wraps every consumer's handler
// with Handler, so every context, present and future, is guarded.
type Guard struct {
	deployment string
	log        *slog.Logger

	foreign, permanent atomic.Uint64

	mu     sync.Mutex
	logged map[string]bool // foreign sources logged already
}

// NewGuard returns the guard of the deployment whose identity (a UUID) is
// deployment. log may be nil for slog.Default().
func NewGuard(deployment string, log *slog.Logger) (*Guard, error) {
	id, err := uuid.Parse(deployment)
	if err != nil {
		return nil, fmt.Errorf("events: deployment identity %q is not a UUID", deployment)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Guard{deployment: id.String(), log: log, logged: map[string]bool{}}, nil
}

// Deployment returns the identity the guard lets through.
func (g *Guard) Deployment() string { return g.deployment }

// Stats returns the guard's counters.
func (g *Guard) Stats() ConsumerStats {
	return ConsumerStats{Foreign: g.foreign.Load(), Permanent: g.permanent.Load()}
}

// Handler wraps h: a message whose ce-source names another deployment, or
// none, is dropped (h does not see it; nil is returned, so the message is
// acked and never comes back), counted and logged at WARN, once per source.
// A Permanent failure of h is counted.
func (g *Guard) Handler(h Handler) Handler {
	return func(ctx context.Context, msg Message) error {
		if dep, _, ok := ParseSource(msg.Source); !ok || dep != g.deployment {
			g.drop(msg)
			MarkForeign(ctx)
			return nil
		}
		err := h(ctx, msg)
		if errors.Is(err, ErrPermanent) {
			g.permanent.Add(1)
		}
		return err
	}
}

// drop counts and logs a foreign message.
func (g *Guard) drop(msg Message) {
	n := g.foreign.Add(1)
	source := msg.Source
	if len(source) > 200 {
		source = strings.ToValidUTF8(source[:200], "") + "..."
	}
	g.mu.Lock()
	first := !g.logged[source] && len(g.logged) < maxLoggedSources
	if first {
		g.logged[source] = true
	}
	g.mu.Unlock()
	if !first && n%logEveryDrop != 1 {
		return
	}
	g.log.Warn("event from another deployment dropped; each deployment needs its own database identity",
		slog.String("event_id", msg.ID), slog.String("event_type", msg.Type),
		slog.String("source", source), slog.String("deployment", g.deployment),
		slog.Uint64("foreign_dropped", n))
}
