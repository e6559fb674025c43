package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// ToolboxDeps are the ports the store's tools read.
type ToolboxDeps struct {
	// Catalog and Reviews are required: they serve the public tools.
	Catalog Catalog
	Reviews ReviewSummaries
	// Orders and Baskets serve the signed-in caller's tools (my_orders,
	// my_basket); nil leaves that tool out, for a process that serves no
	// ordering or basket context.
	Orders  Orders
	Baskets Baskets
}

// StoreToolbox is the Toolbox over the store: search_catalog, get_book,
// similar_books and review_summary for everyone, my_orders and my_basket
// for signed-in callers, over their own data only.
//
// Beyond the sentinels Toolbox names, a tool asked about a book the
// catalog does not have fails with an error matching both
// failure.ErrInvalid and failure.ErrNotFound: the model named an id that
// does not exist, a mistake it can be told about.
type StoreToolbox struct {
	tools []*toolDef
}

var _ Toolbox = (*StoreToolbox)(nil)

// toolDef is one tool: how it is described and how it runs.
type toolDef struct {
	Tool
	// signedIn tools are offered to signed-in callers only.
	signedIn bool
	// run runs the tool for caller; the result is marshalled as JSON.
	run func(ctx context.Context, caller identity.Principal, args json.RawMessage) (any, error)
}

// NewToolbox returns the store's tools over deps. It panics when
// deps.Catalog or deps.Reviews is nil (a wiring mistake).
func NewToolbox(deps ToolboxDeps) *StoreToolbox {
	if deps.Catalog == nil || deps.Reviews == nil {
		panic("assistant.NewToolbox: Catalog and Reviews are required")
	}
	tb := &StoreToolbox{}
	tb.tools = append(tb.tools, catalogTools(deps.Catalog, deps.Reviews)...)
	if deps.Orders != nil {
		tb.tools = append(tb.tools, myOrdersTool(deps.Orders))
	}
	if deps.Baskets != nil {
		tb.tools = append(tb.tools, myBasketTool(deps.Baskets))
	}
	return tb
}

// Tools lists the tools the caller in ctx may call: the public ones, and
// the signed-in caller's own when there is one.
func (tb *StoreToolbox) Tools(ctx context.Context) []Tool {
	_, signedIn := identity.FromContext(ctx)
	out := make([]Tool, 0, len(tb.tools))
	for _, t := range tb.tools {
		if !t.signedIn || signedIn {
			out = append(out, t.Tool)
		}
	}
	return out
}

// Call runs the tool name with args for the caller in ctx.
func (tb *StoreToolbox) Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	caller, signedIn := identity.FromContext(ctx)
	t := tb.find(name)
	if t == nil {
		return nil, failure.Invalid("name", fmt.Sprintf("there is no tool %q; the tools are %s", name, tb.names(signedIn)))
	}
	if t.signedIn && !signedIn {
		return nil, failure.Invalid("name", fmt.Sprintf("%s is only for signed-in customers and the caller is not signed in; the tools are %s",
			name, tb.names(false)))
	}
	res, err := t.run(ctx, caller, args)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("%s: result: %w", name, err)
	}
	return out, nil
}

func (tb *StoreToolbox) find(name string) *toolDef {
	for _, t := range tb.tools {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// names lists the tools a caller may call, for error messages.
func (tb *StoreToolbox) names(signedIn bool) string {
	var names []string
	for _, t := range tb.tools {
		if !t.signedIn || signedIn {
			names = append(names, t.Name)
		}
	}
	return strings.Join(names, ", ")
}

// bookNotFound turns the catalog's failure.ErrNotFound about the book id
// into an error the model can act on; other errors pass unchanged.
func bookNotFound(err error, field string) error {
	if !errors.Is(err, failure.ErrNotFound) || errors.Is(err, failure.ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w (%w)", failure.Invalid(field, "no book has this id; use an id from search_catalog"), failure.ErrNotFound)
}
