// Package assistant is the assistant context: AI chat over the catalog,
// where the chat model may call tools. This file holds its port to the chat
// model; the conversations and the tools come with the assistant service.
package assistant

import (
	"context"
	"encoding/json"
)

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one message of a conversation.
type Message struct {
	Role    string
	Content string
	// ToolCalls are the calls an assistant message asks for.
	ToolCalls []ToolCall
	// ToolName names the tool whose result a RoleTool message carries.
	ToolName string
}

// ToolCall is the model asking to run a tool.
type ToolCall struct {
	Name string
	// Arguments is a JSON object, as the model wrote it.
	Arguments json.RawMessage
}

// Tool is a tool the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the arguments (an object schema).
	Parameters json.RawMessage
}

// ChatRequest is one turn asked of the model.
type ChatRequest struct {
	Messages []Message
	Tools    []Tool
	// Format, when set, is a JSON schema the answer must follow
	// (structured output); the model is constrained to it.
	Format json.RawMessage
}

// ChatChunk is a piece of the answer as the model generates it.
type ChatChunk struct {
	// Content is the next piece of text.
	Content string
	// ToolCalls are calls the model asks for in this piece.
	ToolCalls []ToolCall
}

// ChatResult is the whole answer of one turn.
type ChatResult struct {
	Message Message
	// PromptTokens and AnswerTokens are the model's token counts.
	PromptTokens int
	AnswerTokens int
}

// ChatModel is the chat model. Implementations must be safe for
// concurrent use.
type ChatModel interface {
	// Chat streams the answer to req: onChunk is called with each piece as
	// it arrives (an error from it stops the stream and is returned), and
	// the whole answer is returned at the end. When the model cannot answer
	// now the error wraps failure.ErrUnavailable; cancelling ctx stops the
	// generation.
	Chat(ctx context.Context, req ChatRequest, onChunk func(ChatChunk) error) (ChatResult, error)
}
