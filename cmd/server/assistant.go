package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/inproc"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/assistantstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
)

// assistantConfig is the assistant's limits (the chat model is AI's).
type assistantConfig struct {
	ToolCalls            int
	TurnTimeout          time.Duration
	ConversationMessages int
	HistoryMessages      int
	HistoryChars         int
}

// assistantFlags registers the flags of assistantConfig with the helpers
// of parseConfig.
func assistantFlags(a *assistantConfig, integer func(*int, string, int, string), duration func(*time.Duration, string, time.Duration, string)) {
	integer(&a.ToolCalls, "assistant-tool-calls", 5, "most tool calls of one assistant turn (1-20)")
	duration(&a.TurnTimeout, "assistant-turn-timeout", 60*time.Second, "deadline of one assistant turn, model and tool calls included")
	integer(&a.ConversationMessages, "assistant-max-messages", 200, "most messages an assistant conversation holds")
	integer(&a.HistoryMessages, "assistant-history-messages", 40, "most earlier messages of a conversation sent to the model")
	integer(&a.HistoryChars, "assistant-history-chars", 24000, "most characters of earlier messages sent to the model")
}

// finish validates assistantConfig after parsing.
func (a *assistantConfig) finish() []error {
	var errs []error
	if a.ToolCalls < 1 || a.ToolCalls > 20 {
		errs = append(errs, errors.New("assistant-tool-calls must be between 1 and 20"))
	}
	if a.TurnTimeout <= 0 || a.TurnTimeout > 10*time.Minute {
		errs = append(errs, errors.New("assistant-turn-timeout must be positive and at most 10m"))
	}
	if a.ConversationMessages < 2 || a.ConversationMessages > 10000 {
		errs = append(errs, errors.New("assistant-max-messages must be between 2 and 10000"))
	}
	if a.HistoryMessages < 1 || a.HistoryMessages > 1000 {
		errs = append(errs, errors.New("assistant-history-messages must be between 1 and 1000"))
	}
	if a.HistoryChars < 100 || a.HistoryChars > 1_000_000 {
		errs = append(errs, errors.New("assistant-history-chars must be between 100 and 1000000"))
	}
	return errs
}

func (a assistantConfig) limits() assistant.Limits {
	return assistant.Limits{ToolCalls: a.ToolCalls, TurnTimeout: a.TurnTimeout, ConversationMessages: a.ConversationMessages,
		HistoryMessages: a.HistoryMessages, HistoryChars: a.HistoryChars}
}

// assistantConsumers: the assistant hears no events.
func assistantConsumers(*infra) []eventConsumer { return nil }

// buildAssistant: the assistant's chat over the Ollama chat model (none
// when the AI features are off: Chat then answers that the assistant is
// offline) with the store's tools, and its conversations in the schema
// assistant.
func buildAssistant(_ context.Context, in *infra) (*servedContext, error) {
	var model assistant.ChatModel
	if in.ollama != nil {
		model = in.ollama
	} else {
		in.log.Info("assistant offline: no Ollama configured (ollama-url off)")
	}
	svc := assistant.NewService(assistantstore.NewConversations(in.pool), model, in.assistantTools(), in.cfg.Assistant.limits(),
		in.log.With(slog.String("context", "assistant")))
	return &servedContext{
		services:     []rpc.Service{rpc.AssistantService(svc)},
		dependencies: []string{"postgres"},
	}, nil
}

// assistantTools returns the store's tools over the contexts this process
// serves (the assistant comes last in the registry, so they are built):
// the catalog's and the review summaries, and the customer's orders and
// basket when those contexts are here. Without the catalog or the rating
// context in this process the assistant answers without tools (logged).
//
// TODO(integrator): once /mcp (branch mcp) is on main, this is
// in.storeToolbox(): the one toolbox both serve.
func (in *infra) assistantTools() assistant.Toolbox {
	if in.catalog == nil || in.rating == nil {
		in.log.Info("assistant without tools: the catalog and rating contexts are not served by this process")
		return nil
	}
	deps := assistant.ToolboxDeps{Catalog: inproc.NewAssistantCatalog(in.catalog), Reviews: inproc.NewRatingReviewSummaries(in.rating)}
	if in.ordering != nil {
		deps.Orders = inproc.NewAssistantOrders(in.ordering)
	}
	if in.basket != nil {
		deps.Baskets = inproc.NewAssistantBaskets(in.basket, inproc.NewBasketCatalog(in.catalog))
	}
	return assistant.NewToolbox(deps)
}
