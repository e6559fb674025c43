package main

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
	"github.com/bookworm-store/bookworm/internal/adapters/inproc"
	"github.com/bookworm-store/bookworm/internal/adapters/mcp"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
)

// mcpConfig is the MCP endpoint's part of the configuration.
type mcpConfig struct {
	// Enabled serves the store's tools at /mcp (when the catalog is served
	// in this process).
	Enabled bool
	// CallTimeout bounds one tool call.
	CallTimeout time.Duration
}

// mcpFlags registers the flags of mcpConfig with the helpers of
// parseConfig.
func mcpFlags(m *mcpConfig, boolean func(*bool, string, bool, string), duration func(*time.Duration, string, time.Duration, string)) {
	boolean(&m.Enabled, "mcp", true, "serve the store's tools to AI agents over MCP at "+mcp.Path+" (needs the catalog in this process)")
	duration(&m.CallTimeout, "mcp-call-timeout", mcp.DefaultCallTimeout, "deadline of one MCP tool call")
}

// finish validates mcpConfig after parsing.
func (m mcpConfig) finish() []error {
	if m.CallTimeout <= 0 || m.CallTimeout > 5*time.Minute {
		return []error{errors.New("mcp-call-timeout must be positive and at most 5m")}
	}
	return nil
}

// storeToolbox returns the store's tools over the contexts this process
// serves, built once: the catalog's (required: nil without it), review
// summaries from the rating statistics when the rating context is here
// (from the catalog's counts otherwise), and the customer's orders and
// basket when those contexts are here.
func (in *infra) storeToolbox() *assistant.StoreToolbox {
	if in.catalog == nil {
		return nil
	}
	if in.tools != nil {
		return in.tools
	}
	deps := assistant.ToolboxDeps{Catalog: inproc.NewAssistantCatalog(in.catalog)}
	if in.rating != nil {
		deps.Reviews = inproc.NewRatingReviewSummaries(in.rating)
	}
	if in.ordering != nil {
		deps.Orders = inproc.NewAssistantOrders(in.ordering)
	}
	if in.basket != nil {
		deps.Baskets = inproc.NewAssistantBaskets(in.basket, inproc.NewBasketCatalog(in.catalog))
	}
	in.tools = assistant.NewToolbox(deps)
	return in.tools
}

// mountMCP adds the MCP endpoint to the catalog's handlers when the
// catalog is served here (the tools read it in process) and MCP is on.
// Bearer tokens are checked as for the public RPCs (a token sent must be
// valid: 401 otherwise), and each request costs one read of the caller's
// rate budget.
func mountMCP(in *infra, cs *contexts) {
	cat := cs.served["catalog"]
	switch {
	case !in.cfg.MCP.Enabled:
		return
	case cat == nil:
		in.log.Info("mcp: not served, the catalog is not served by this process")
		return
	case in.authn.verifier == nil:
		in.log.Warn("mcp: not served, no token verifier")
		return
	}
	var h http.Handler = mcp.NewHandler(mcp.Options{
		Toolbox:         in.storeToolbox(),
		Log:             in.log,
		Version:         observability.BuildVersion(),
		MaxRequestBytes: in.cfg.MaxRequestBytes,
		CallTimeout:     in.cfg.MCP.CallTimeout,
	})
	if in.authn.limiter != nil {
		h = in.authn.limiter.LimitHTTP(h)
	}
	h = auth.AuthenticateHTTP(in.authn.verifier, in.log, h)
	if cat.handlers == nil {
		cat.handlers = map[string]http.Handler{}
	}
	cat.handlers[mcp.Path] = h
	in.log.Info("mcp: the store's tools are served", slog.String("path", mcp.Path))
}
