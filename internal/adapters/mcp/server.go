// Package mcp serves the store's tools (an assistant.Toolbox, the same
// tools the assistant's chat model calls) to external AI agents over the
// Model Context Protocol, streamable HTTP transport, with the official Go
// SDK.
//
// The server is stateless: every POST is a whole exchange, no session is
// kept between requests, so any replica answers any request and the caller
// of each request is the bearer token sent with it. The caller is the
// identity.Principal in the request's context (the auth adapter's
// AuthenticateHTTP puts it there); the tools listed and callable are the
// ones the Toolbox offers that caller.
package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Path is where the server mounts the handler.
const Path = "/mcp"

// Defaults of Options.
const (
	DefaultMaxRequestBytes = 64 << 10
	DefaultCallTimeout     = 15 * time.Second
)

// instructions tell an agent what the server is for when it connects.
const instructions = "BookWorm is an online bookstore. Use search_catalog to find books (it returns their ids), get_book for " +
	"the details of one, similar_books for recommendations and review_summary for what readers think. Prices are exact, " +
	"with their currency. With an Authorization: Bearer token of a signed-in customer, my_orders and my_basket show that " +
	"customer's own orders and basket."

// Options configure the handler.
type Options struct {
	// Toolbox is the tools served (required).
	Toolbox assistant.Toolbox
	// Log gets the tools' unexpected failures; nil discards.
	Log *slog.Logger
	// Version is the server version agents are told.
	Version string
	// MaxRequestBytes bounds a request body; larger ones are refused with
	// 413. Default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// CallTimeout bounds one tool call. Default DefaultCallTimeout.
	CallTimeout time.Duration
}

// Handler is the MCP endpoint.
type Handler struct {
	opts Options
	http *gomcp.StreamableHTTPHandler

	mu sync.Mutex
	// servers are the MCP servers by the set of tools they offer: one per
	// kind of caller (anonymous, signed in), built on first use.
	servers map[string]*gomcp.Server
}

// NewHandler returns the MCP endpoint over opts.Toolbox.
func NewHandler(opts Options) *Handler {
	if opts.Toolbox == nil {
		panic("mcp.NewHandler: a Toolbox is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	h := &Handler{opts: opts, servers: map[string]*gomcp.Server{}}
	h.http = gomcp.NewStreamableHTTPHandler(h.server, &gomcp.StreamableHTTPOptions{
		Stateless: true,
		// Plain JSON answers: a stateless exchange has nothing to stream.
		JSONResponse:        true,
		MaxRequestBodyBytes: opts.MaxRequestBytes,
		// A tool call stops when its agent goes away.
		PropagateRequestCancellation: true,
		Logger:                       opts.Log.With(slog.String("component", "mcp")),
		// The SDK refuses a loopback connection whose Host is not loopback,
		// against DNS rebinding onto a local MCP server that trusts its
		// host. This endpoint trusts nobody for being local: what it
		// serves anonymously the public Connect API serves too, and the
		// rest needs a bearer token, which a browser never adds on its own.
		// The protection would only refuse BookWorm behind a reverse proxy
		// on the same host.
		DisableLocalhostProtection: true,
	})
	return h
}

// ServeHTTP serves one MCP request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.http.ServeHTTP(w, r) }

// server returns the MCP server with the tools the request's caller may
// call.
func (h *Handler) server(r *http.Request) *gomcp.Server {
	tools := h.opts.Toolbox.Tools(r.Context())
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.Name
	}
	key := strings.Join(names, ",")
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.servers[key]; ok {
		return s
	}
	s := gomcp.NewServer(&gomcp.Implementation{Name: "bookworm", Title: "BookWorm bookstore", Version: h.opts.Version},
		&gomcp.ServerOptions{Instructions: instructions, Logger: h.opts.Log.With(slog.String("component", "mcp"))})
	for _, t := range tools {
		s.AddTool(&gomcp.Tool{Name: t.Name, Description: t.Description, InputSchema: t.Parameters}, h.call(t.Name))
	}
	h.servers[key] = s
	return s
}

// call runs the tool name for the caller in ctx. A failure the agent can
// act on, or that is no fault of its own, is a tool error (isError, with
// a message for the agent), not a protocol error.
func (h *Handler) call(name string) gomcp.ToolHandler {
	return func(ctx context.Context, req *gomcp.CallToolRequest) (*gomcp.CallToolResult, error) {
		ctx, cancel := context.WithTimeout(ctx, h.opts.CallTimeout)
		defer cancel()
		out, err := h.opts.Toolbox.Call(ctx, name, req.Params.Arguments)
		switch {
		case err == nil:
			return &gomcp.CallToolResult{Content: []gomcp.Content{&gomcp.TextContent{Text: string(out)}}}, nil
		case errors.Is(err, failure.ErrInvalid):
			return toolError(err.Error()), nil
		case errors.Is(err, failure.ErrUnavailable):
			h.opts.Log.WarnContext(ctx, "mcp tool unavailable", slog.String("tool", name), slog.Any("error", err))
			return toolError(fmt.Sprintf("unavailable: %s cannot answer right now because a service it needs is down; try again in a minute", name)), nil
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return toolError(fmt.Sprintf("unavailable: %s took longer than %s and was stopped; try again", name, h.opts.CallTimeout)), nil
		case errors.Is(err, context.Canceled):
			return nil, err // the agent went away
		default:
			p, _ := identity.FromContext(ctx)
			h.opts.Log.ErrorContext(ctx, "mcp tool failed", slog.String("tool", name), slog.String("caller", p.String()), slog.Any("error", err))
			return toolError(fmt.Sprintf("internal error: %s failed on the store's side, not because of its arguments", name)), nil
		}
	}
}

func toolError(msg string) *gomcp.CallToolResult {
	return &gomcp.CallToolResult{IsError: true, Content: []gomcp.Content{&gomcp.TextContent{Text: msg}}}
}
