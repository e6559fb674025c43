// Package ollama is the adapter to an Ollama server (github.com/ollama/ollama/api,
// the official client): catalog.Embedder (batched /api/embed) and
// assistant.ChatModel (streamed /api/chat with tool calls).
//
// Every call has its own deadline and goes through a circuit breaker per
// operation (github.com/sony/gobreaker/v2): after a few consecutive failures
// the breaker opens and calls fail at once with failure.ErrUnavailable, so a
// dead Ollama costs callers nothing; after OpenTimeout one probe call is let
// through (half-open) and its outcome closes or reopens the breaker. A
// caller's own cancellation is not held against Ollama.
//
// Metrics go to a Stats, a neutral interface the composition root fills
// with the observability adapter.
package ollama

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/sony/gobreaker/v2"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// DefaultURL is where a local Ollama listens.
const DefaultURL = "http://127.0.0.1:11434"

// Operations as Stats sees them.
const (
	OpEmbed = "embed"
	OpChat  = "chat"
)

// Config configures a Client. Zero fields take the defaults of
// Config.withDefaults.
type Config struct {
	// URL is the base URL of the Ollama server (DefaultURL).
	URL string
	// EmbedModel and ChatModel name the models ("nomic-embed-text",
	// "llama3.2").
	EmbedModel string
	ChatModel  string
	// EmbedTimeout bounds one /api/embed call (10 s); ChatTimeout one whole
	// streamed /api/chat answer (2 min).
	EmbedTimeout time.Duration
	ChatTimeout  time.Duration
	// EmbedBatch is the most texts sent in one /api/embed call (32).
	EmbedBatch int
	// FailuresToOpen consecutive failures open the breaker (3); it stays
	// open for OpenTimeout (10 s) before letting one probe through.
	FailuresToOpen uint32
	OpenTimeout    time.Duration
	// HTTPClient is the client used (a fresh one when nil). Its own Timeout
	// should stay 0: the per-call deadlines bound the calls, and a streamed
	// answer may take longer than any single read.
	HTTPClient *http.Client
	// Stats receives the metrics; nil discards them.
	Stats Stats
}

// Defaults.
const (
	DefaultEmbedModel = "nomic-embed-text"
	DefaultChatModel  = "llama3.2"
)

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.EmbedModel == "" {
		c.EmbedModel = DefaultEmbedModel
	}
	if c.ChatModel == "" {
		c.ChatModel = DefaultChatModel
	}
	if c.EmbedTimeout <= 0 {
		c.EmbedTimeout = 10 * time.Second
	}
	if c.ChatTimeout <= 0 {
		c.ChatTimeout = 2 * time.Minute
	}
	if c.EmbedBatch <= 0 {
		c.EmbedBatch = 32
	}
	if c.FailuresToOpen == 0 {
		c.FailuresToOpen = 3
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Stats == nil {
		c.Stats = discard{}
	}
	return c
}

// Stats receives the adapter's metrics. Implementations must be safe for
// concurrent use and fast: they are called on every call.
type Stats interface {
	// ObserveCall records one call of op (OpEmbed, OpChat) to model: how
	// long it took and its outcome ("ok", "error", "open" when the breaker
	// refused it without calling, "canceled" when the caller gave up).
	ObserveCall(op, model, outcome string, d time.Duration)
	// AddTokens adds tokens the model counted: kind is "prompt" or "answer".
	AddTokens(op, model, kind string, n int)
	// SetBreakerOpen reports the breaker of op opening (true) or closing.
	SetBreakerOpen(op string, open bool)
}

type discard struct{}

func (discard) ObserveCall(string, string, string, time.Duration) {}
func (discard) AddTokens(string, string, string, int)             {}
func (discard) SetBreakerOpen(string, bool)                       {}

// Client talks to one Ollama server. It is safe for concurrent use.
type Client struct {
	cfg     Config
	api     *api.Client
	embedCB *gobreaker.CircuitBreaker[struct{}]
	chatCB  *gobreaker.CircuitBreaker[struct{}]
}

// New returns a Client for cfg. It does not call the server: a server that
// is down shows as failure.ErrUnavailable from the calls.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ollama url %q: must be an http(s) URL with a host", cfg.URL)
	}
	c := &Client{cfg: cfg, api: api.NewClient(base, cfg.HTTPClient)}
	c.embedCB = c.breaker(OpEmbed)
	c.chatCB = c.breaker(OpChat)
	return c, nil
}

// EmbedModel returns the name of the embedding model.
func (c *Client) EmbedModel() string { return c.cfg.EmbedModel }

// ChatModel returns the name of the chat model.
func (c *Client) ChatModel() string { return c.cfg.ChatModel }

func (c *Client) breaker(op string) *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "ollama " + op,
		MaxRequests: 1, // one probe while half-open
		Timeout:     c.cfg.OpenTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= c.cfg.FailuresToOpen },
		// The caller giving up says nothing about Ollama; neither does a
		// request Ollama refused as malformed (our bug, logged by the caller).
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) || isBadRequest(err) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			c.cfg.Stats.SetBreakerOpen(op, to == gobreaker.StateOpen)
		},
	})
}

// errCallerGone marks an error caused by the caller: its context ended, or
// its chunk callback stopped the stream.
var errCallerGone = errors.New("caller gone")

func isBadRequest(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusBadRequest
}

// call runs fn with a deadline of timeout through cb, and records it.
func (c *Client) call(ctx context.Context, op, model string, cb *gobreaker.CircuitBreaker[struct{}], timeout time.Duration, fn func(context.Context) error) error {
	start := time.Now()
	_, err := cb.Execute(func() (struct{}, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := fn(cctx)
		if err != nil && !errors.Is(err, errCallerGone) && ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errCallerGone, ctx.Err())
		}
		return struct{}{}, err
	})
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		outcome = "open"
		err = fmt.Errorf("%w: ollama %s: circuit open after repeated failures", failure.ErrUnavailable, op)
	case errors.Is(err, errCallerGone):
		outcome = "canceled"
		if ctx.Err() != nil {
			err = ctx.Err()
		}
	default:
		outcome = "error"
		err = fmt.Errorf("%w: ollama %s (model %s): %s", failure.ErrUnavailable, op, model, describe(err))
	}
	c.cfg.Stats.ObserveCall(op, model, outcome, time.Since(start))
	return err
}

// describe shortens the client's errors for logs.
func describe(err error) string {
	var se api.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("HTTP %d: %s", se.StatusCode, strings.TrimSpace(se.ErrorMessage))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return err.Error()
}
