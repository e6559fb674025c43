package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	evpkg "github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/adapters/ollama"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// aiConfig is the AI part of the configuration: where Ollama is and which
// models it serves.
type aiConfig struct {
	OllamaURL  string
	EmbedModel string
	ChatModel  string
	// EmbedTimeout bounds one embedding call; ChatTimeout one streamed answer.
	EmbedTimeout time.Duration
	ChatTimeout  time.Duration
}

// aiFlags registers the flags of aiConfig with the helpers of parseConfig.
func aiFlags(a *aiConfig, str func(*string, string, string, string), duration func(*time.Duration, string, time.Duration, string)) {
	str(&a.OllamaURL, "ollama-url", ollama.DefaultURL, `base URL of the Ollama server; "off" turns the AI features off (lexical search only)`)
	str(&a.EmbedModel, "embed-model", ollama.DefaultEmbedModel, "Ollama model that embeds books and queries (changing it re-embeds every book)")
	str(&a.ChatModel, "chat-model", ollama.DefaultChatModel, "Ollama model for review summaries and the assistant")
	duration(&a.EmbedTimeout, "embed-timeout", 10*time.Second, "deadline of one embedding call to Ollama")
	duration(&a.ChatTimeout, "chat-timeout", 2*time.Minute, "deadline of one streamed answer from Ollama")
}

// finish validates aiConfig after parsing.
func (a *aiConfig) finish() []error {
	if a.OllamaURL == "off" {
		return nil
	}
	u, err := url.Parse(a.OllamaURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []error{fmt.Errorf("ollama-url %q must be an http(s) URL or off", a.OllamaURL)}
	}
	if a.EmbedTimeout <= 0 || a.ChatTimeout <= 0 {
		return []error{errors.New("embed-timeout and chat-timeout must be positive")}
	}
	return nil
}

// newOllama builds the Ollama adapter, its metrics on the server's
// registry; nil when the AI features are off.
func newOllama(a aiConfig, metrics *observability.Metrics) (*ollama.Client, error) {
	if a.OllamaURL == "off" {
		return nil, nil
	}
	var stats ollama.Stats
	if metrics != nil {
		s, err := observability.NewModelStats(metrics)
		if err != nil {
			return nil, err
		}
		stats = s
	}
	return ollama.New(ollama.Config{URL: a.OllamaURL, EmbedModel: a.EmbedModel, ChatModel: a.ChatModel,
		EmbedTimeout: a.EmbedTimeout, ChatTimeout: a.ChatTimeout, Stats: stats})
}

// catalogEmbeddings sets up the catalog's semantic side: with Ollama
// configured and pgvector in the database, the indexer loop that keeps
// every book's embedding current; otherwise nothing, and the catalog
// serves its lexical features alone (logged once here).
func catalogEmbeddings(ctx context.Context, in *infra) ([]loop, error) {
	if in.ollama == nil {
		in.log.Info("semantic search off: no Ollama configured (ollama-url off)")
		return nil, nil
	}
	store := catalogstore.NewEmbeddings(in.pool)
	ready, err := store.Ready(ctx)
	if err != nil {
		return nil, err
	}
	if !ready {
		in.log.Warn("semantic search off: the database has no pgvector extension (see README, AI); lexical search only")
		return nil, nil
	}
	x := catalog.NewIndexer(store, in.ollama, in.ollama.EmbedModel(), in.log)
	in.embedIndexer = x
	in.catalog.WithSemanticSearch(in.ollama, in.ollama.EmbedModel())
	return []loop{{name: "book embeddings", run: x.Run}}, nil
}

// reviewSummaries lets the rating service summarize reviews with the chat
// model, cached in the rating schema; without Ollama its summaries come
// from the rating histogram (degraded "model_off").
func reviewSummaries(in *infra, svc *rating.Service) *rating.Service {
	if in.ollama == nil {
		return svc
	}
	return svc.WithReviewSummaries(in.ollama, ratingstore.NewReviewSummaries(in.pool), in.log)
}

// nudgeIndexer tells the indexer, once built, that a book may need
// embedding.
func (in *infra) nudgeIndexer() {
	if x := in.embedIndexer; x != nil {
		x.Nudge()
	}
}

// typedHandler is an event handler with the event types it handles.
type typedHandler interface {
	EventTypes() []string
	Handle(context.Context, evpkg.Message) error
}

// oneQueue makes the one consumer of a context's queue from handlers of
// distinct event types: each message goes to the handler of its type.
func oneQueue(name string, hs ...typedHandler) eventConsumer {
	byType := map[string]typedHandler{}
	var types []string
	for _, h := range hs {
		for _, t := range h.EventTypes() {
			byType[t] = h
			types = append(types, t)
		}
	}
	return eventConsumer{context: name, eventTypes: types, handler: func(ctx context.Context, msg evpkg.Message) error {
		h, ok := byType[msg.Type]
		if !ok {
			return fmt.Errorf("%s queue: no handler for event type %s", name, msg.Type)
		}
		return h.Handle(ctx, msg)
	}}
}
