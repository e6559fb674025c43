// Package assistant is the assistant context: AI chat over the catalog,
// where the chat model may call tools. This file holds its ports: the chat
// model and the store of conversations (the tools are in tools.go).
package assistant

import (
	"context"
	"encoding/json"
	"time"
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

// Conversation is one of a user's conversations, without its messages.
type Conversation struct {
	ID string
	// Owner is the subject of the user who started it; nobody else reads it.
	Owner string
	// Title is the beginning of its first message.
	Title     string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Messages is how many messages it holds: the user's and the
	// assistant's, tool results not counted.
	Messages int
}

// Record is a stored message of a conversation.
type Record struct {
	// ID is the message's id (UUIDv7), given by the core.
	ID string
	Message
	CreatedAt time.Time
	// Interrupted marks an answer cut before the model finished it (the
	// client went away, or the turn reached its deadline).
	Interrupted bool
}

// Counted reports whether r counts toward Conversation.Messages: a user's
// message or an assistant's answer, not a tool call or a tool's result.
func (r Record) Counted() bool {
	switch r.Role {
	case RoleUser:
		return true
	case RoleAssistant:
		return len(r.ToolCalls) == 0
	}
	return false
}

// ConversationPage is one page of a user's conversations.
type ConversationPage struct {
	Conversations []Conversation
	NextPageToken string
}

// Store keeps conversations and their messages. Every method takes the
// owner: a conversation of another owner is failure.ErrNotFound, exactly as
// a missing one, so a store never hands one user another's conversation.
// Implementations must be safe for concurrent use.
type Store interface {
	// Create stores a new conversation with its first messages, in one
	// transaction.
	Create(ctx context.Context, c Conversation, first []Record) error
	// Get returns owner's conversation id, or failure.ErrNotFound.
	Get(ctx context.Context, owner, id string) (Conversation, error)
	// Append adds msgs after the conversation's last message and sets its
	// update time to at, in one transaction; failure.ErrNotFound when the
	// conversation is gone (deleted meanwhile).
	Append(ctx context.Context, owner, id string, msgs []Record, at time.Time) error
	// Retract removes message messageID when it is the conversation's last
	// (a user's message the model never answered), and the conversation
	// with it when nothing else is left. Anything else is left alone; no
	// error when there is nothing to retract.
	Retract(ctx context.Context, owner, id, messageID string) error
	// Recent returns the conversation's last limit messages, oldest first.
	Recent(ctx context.Context, owner, id string, limit int) ([]Record, error)
	// Messages returns every message of the conversation, oldest first.
	Messages(ctx context.Context, owner, id string) ([]Record, error)
	// List returns one page of owner's conversations, newest first (by
	// creation time, then id), with a keyset cursor as NextPageToken; a
	// token the store did not issue is a failure.ValidationError on
	// "page_token".
	List(ctx context.Context, owner string, pageSize int, pageToken string) (ConversationPage, error)
	// Delete removes the conversation and its messages, or returns
	// failure.ErrNotFound.
	Delete(ctx context.Context, owner, id string) error
}
