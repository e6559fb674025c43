package assistant

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Limits bound what one user can make the assistant do. The zero value of
// a field takes its default (Limits.withDefaults).
type Limits struct {
	// MessageRunes is the longest user message, in characters (4000, the
	// contract's maximum; a larger value is lowered to it).
	MessageRunes int
	// ToolCalls is the most tool calls of one turn (5). Past it the model
	// is told to answer with what it has.
	ToolCalls int
	// TurnTimeout bounds one turn, every model and tool call included (60
	// s). Past it the answer ends where it was.
	TurnTimeout time.Duration
	// ConversationMessages is the most messages (the user's and the
	// assistant's) a conversation holds (200).
	ConversationMessages int
	// HistoryMessages is the most earlier messages sent to the model with
	// a new one (40; tool calls and results count), and HistoryChars the
	// most characters they may hold together (24,000): older ones are left
	// out.
	HistoryMessages int
	HistoryChars    int
	// ToolResultChars bounds one tool result given to the model (8,000);
	// a longer one is cut.
	ToolResultChars int
}

// MaxMessageRunes is the contract's maximum of a user message.
const MaxMessageRunes = 4000

func (l Limits) withDefaults() Limits {
	if l.MessageRunes <= 0 || l.MessageRunes > MaxMessageRunes {
		l.MessageRunes = MaxMessageRunes
	}
	if l.ToolCalls <= 0 {
		l.ToolCalls = 5
	}
	if l.TurnTimeout <= 0 {
		l.TurnTimeout = 60 * time.Second
	}
	if l.ConversationMessages <= 0 {
		l.ConversationMessages = 200
	}
	if l.HistoryMessages <= 0 {
		l.HistoryMessages = 40
	}
	if l.HistoryChars <= 0 {
		l.HistoryChars = 24000
	}
	if l.ToolResultChars <= 0 {
		l.ToolResultChars = 8000
	}
	return l
}

// Service is the assistant's use cases: the chat turn and the user's
// conversations.
type Service struct {
	store  Store
	model  ChatModel
	tools  Toolbox
	limits Limits
	log    *slog.Logger
	now    func() time.Time
}

// NewService returns the assistant over store and model (nil when no chat
// model is configured: Chat is then Unavailable) with the tools of toolbox
// (nil for none). log receives what a client must not see (a tool's
// unexpected failure); nil discards it.
func NewService(store Store, model ChatModel, toolbox Toolbox, limits Limits, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, model: model, tools: toolbox, limits: limits.withDefaults(), log: log,
		now: func() time.Time { return time.Now().UTC() }}
}

// WithClock makes the service read the time from now (tests).
func (s *Service) WithClock(now func() time.Time) *Service {
	s.now = func() time.Time { return now().UTC() }
	return s
}

// Limits returns the limits in force, defaults filled in.
func (s *Service) Limits() Limits { return s.limits }

// ErrOffline is the error of a Chat without its model; it wraps
// failure.ErrUnavailable.
var ErrOffline = &offline{}

type offline struct{}

func (*offline) Error() string {
	return "the assistant is offline: its language model is not reachable; try again later"
}
func (*offline) Unwrap() error { return failure.ErrUnavailable }

func conversationNotFound(id string) error {
	return failure.NotFound("conversation %s not found", id)
}

// TitleRunes is the length of a conversation's title, cut from its first
// message.
const TitleRunes = 80

func title(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > TitleRunes {
		return string(r[:TitleRunes-1]) + "…"
	}
	return msg
}

// checkConversationID refuses an id that is not a UUID.
func checkConversationID(v string) error {
	if !id.Valid(v) {
		return failure.Invalid("id", "must be a UUID")
	}
	return nil
}

// GetConversation returns one of the caller's conversations with its
// messages, oldest first: the user's messages and the assistant's answers
// (tool calls and results are the model's business and stay out; the
// answer names the tools used).
func (s *Service) GetConversation(ctx context.Context, conversationID string) (Conversation, []Record, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return Conversation{}, nil, err
	}
	if err := checkConversationID(conversationID); err != nil {
		return Conversation{}, nil, err
	}
	conversationID = id.Canonical(conversationID)
	c, err := s.store.Get(ctx, p.Subject, conversationID)
	if errors.Is(err, failure.ErrNotFound) {
		return Conversation{}, nil, conversationNotFound(conversationID)
	}
	if err != nil {
		return Conversation{}, nil, err
	}
	all, err := s.store.Messages(ctx, p.Subject, conversationID)
	if errors.Is(err, failure.ErrNotFound) {
		return Conversation{}, nil, conversationNotFound(conversationID)
	}
	if err != nil {
		return Conversation{}, nil, err
	}
	return c, Visible(all), nil
}

// Visible returns the messages a user reads of a conversation: their own
// and the assistant's answers, each answer carrying (as tool calls with
// their names) the tools called while writing it.
func Visible(all []Record) []Record {
	var out []Record
	var used []ToolCall
	for _, r := range all {
		switch {
		case r.Role == RoleUser:
			used = nil
			out = append(out, r)
		case r.Role == RoleAssistant && len(r.ToolCalls) > 0:
			for _, c := range r.ToolCalls {
				used = append(used, ToolCall{Name: c.Name})
			}
		case r.Role == RoleAssistant:
			r.ToolCalls = used
			used = nil
			out = append(out, r)
		}
	}
	return out
}

// Page sizes of ListConversations.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxPageTokenLen = 1024
)

// ListConversations pages through the caller's conversations, newest
// first.
func (s *Service) ListConversations(ctx context.Context, pageSize int, pageToken string) (ConversationPage, error) {
	p, err := identity.Require(ctx)
	if err != nil {
		return ConversationPage{}, err
	}
	var v failure.Violations
	switch {
	case pageSize < 0 || pageSize > MaxPageSize:
		v.Add("page_size", "must be between 0 and 100")
	case pageSize == 0:
		pageSize = DefaultPageSize
	}
	if len(pageToken) > MaxPageTokenLen {
		v.Add("page_token", "must be at most 1024 bytes")
	}
	if err := v.Err(); err != nil {
		return ConversationPage{}, err
	}
	return s.store.List(ctx, p.Subject, pageSize, pageToken)
}

// DeleteConversation deletes one of the caller's conversations.
func (s *Service) DeleteConversation(ctx context.Context, conversationID string) error {
	p, err := identity.Require(ctx)
	if err != nil {
		return err
	}
	if err := checkConversationID(conversationID); err != nil {
		return err
	}
	conversationID = id.Canonical(conversationID)
	err = s.store.Delete(ctx, p.Subject, conversationID)
	if errors.Is(err, failure.ErrNotFound) {
		return conversationNotFound(conversationID)
	}
	return err
}

// checkMessage validates a user's message: valid UTF-8, not blank, at most
// MessageRunes characters.
func (s *Service) checkMessage(msg string) error {
	switch {
	case !utf8.ValidString(msg):
		return failure.Invalid("message", "must be valid UTF-8")
	case strings.TrimSpace(msg) == "":
		return failure.Invalid("message", "must not be empty")
	case utf8.RuneCountInString(msg) > s.limits.MessageRunes:
		return failure.Invalid("message", "must be at most "+strconv.Itoa(s.limits.MessageRunes)+" characters")
	}
	return nil
}
