package assistant

import (
	"context"
	"encoding/json"
)

// Toolbox is the set of tools over the store that a model may call: the
// assistant's chat model during a conversation, and external agents over
// MCP. Both see the same tools, described the same way.
//
// The caller is the principal in ctx (identity.FromContext): an anonymous
// caller gets the public catalog tools only; a signed-in user also gets the
// tools over their own orders and basket. A tool never reaches another
// user's data.
//
// Implementations must be safe for concurrent use.
type Toolbox interface {
	// Tools lists the tools the caller in ctx may call, in a stable order.
	Tools(ctx context.Context) []Tool
	// Call runs the tool name with args (a JSON object as the model wrote
	// it) for the caller in ctx and returns its result as a JSON value for
	// the model to read. Errors wrap the failure sentinels: an unknown tool
	// or a tool the caller may not use, or arguments that do not fit the
	// tool's schema, wrap failure.ErrInvalid (the model made a mistake it
	// can be told about); a dependency that is down wraps
	// failure.ErrUnavailable.
	Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)
}
