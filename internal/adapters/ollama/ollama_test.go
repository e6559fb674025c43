package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama"
	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// recorder is a Stats that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	outcomes map[string]int
	tokens   map[string]int
	open     map[string]bool
}

func newRecorder() *recorder {
	return &recorder{outcomes: map[string]int{}, tokens: map[string]int{}, open: map[string]bool{}}
}

func (r *recorder) ObserveCall(op, _, outcome string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[op+" "+outcome]++
}

func (r *recorder) AddTokens(op, _, kind string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[op+" "+kind] += n
}

func (r *recorder) SetBreakerOpen(op string, open bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open[op] = open
}

func (r *recorder) isOpen(op string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open[op]
}

func (r *recorder) get(m map[string]int, k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[k]
}

func newClient(t *testing.T, url string, st ollama.Stats, tweak ...func(*ollama.Config)) *ollama.Client {
	t.Helper()
	cfg := ollama.Config{URL: url, EmbedModel: "embed-test", ChatModel: "chat-test", EmbedBatch: 3, Stats: st,
		OpenTimeout: 300 * time.Millisecond, EmbedTimeout: 2 * time.Second, ChatTimeout: 5 * time.Second}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := ollama.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEmbedBatches(t *testing.T) {
	srv := ollamatest.New(t, "embed-test")
	st := newRecorder()
	c := newClient(t, srv.URL, st)
	texts := []string{"wizard school", "space voyage", "detective murder", "love story", "war battle", "cooking recipe", "dragon"}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "embed-test" || len(got.Vectors) != len(texts) || got.Dimension() != ollamatest.Dimension {
		t.Fatalf("model %q, %d vectors of %d, want embed-test, %d of %d", got.Model, len(got.Vectors), got.Dimension(), len(texts), ollamatest.Dimension)
	}
	for i, text := range texts {
		if sim := ollamatest.Cosine(got.Vectors[i], ollamatest.Embed(text)); sim < 0.9999 {
			t.Errorf("vector %d is not the embedding of %q (similarity %.4f): order lost between batches", i, text, sim)
		}
	}
	if n := srv.EmbedCalls(); n != 3 {
		t.Errorf("%d calls for 7 texts in batches of 3, want 3", n)
	}
	if n := st.get(st.outcomes, "embed ok"); n != 3 {
		t.Errorf("stats saw %d successful embed calls, want 3", n)
	}
	if n := st.get(st.tokens, "embed prompt"); n == 0 {
		t.Error("no prompt tokens counted")
	}
}

func TestEmbedUnknownModelIsUnavailable(t *testing.T) {
	srv := ollamatest.New(t, "other-model")
	c := newClient(t, srv.URL, nil)
	_, err := c.Embed(context.Background(), []string{"x"})
	if !errors.Is(err, failure.ErrUnavailable) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want ErrUnavailable naming HTTP 404", err)
	}
}

func TestBreakerFailsFastWhileOpenAndProbesAfterTimeout(t *testing.T) {
	srv := ollamatest.New(t, "embed-test")
	st := newRecorder()
	c := newClient(t, srv.URL, st)
	ctx := context.Background()
	if _, err := c.Embed(ctx, []string{"ok"}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for i := range 3 {
		if _, err := c.Embed(ctx, []string{"x"}); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("call %d with Ollama stopped: err = %v, want ErrUnavailable", i, err)
		}
	}
	if !st.isOpen(ollama.OpEmbed) {
		t.Fatal("breaker not open after 3 consecutive failures")
	}
	start := time.Now()
	for range 100 {
		if _, err := c.Embed(ctx, []string{"x"}); !errors.Is(err, failure.ErrUnavailable) {
			t.Fatalf("open breaker: err = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("100 calls with the breaker open took %v: not failing fast", d)
	}
	if n := st.get(st.outcomes, "embed open"); n != 100 {
		t.Errorf("stats saw %d refused calls, want 100", n)
	}
	// The chat breaker is its own: an embedding outage does not refuse chat
	// before chat itself has failed.
	if _, err := c.Chat(ctx, assistant.ChatRequest{Messages: []assistant.Message{{Role: "user", Content: "hi"}}}, func(assistant.ChatChunk) error { return nil }); errors.Is(err, failure.ErrUnavailable) && strings.Contains(err.Error(), "circuit open") {
		t.Fatal("chat refused by the embed breaker")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond) // past OpenTimeout: half-open, one probe
	if _, err := c.Embed(ctx, []string{"back"}); err != nil {
		t.Fatalf("probe after Ollama came back: %v", err)
	}
	if st.isOpen(ollama.OpEmbed) {
		t.Fatal("breaker still open after a successful probe")
	}
}

func TestCallerCancellationDoesNotOpenTheBreaker(t *testing.T) {
	srv := ollamatest.New(t, "chat-test")
	srv.SetChunkDelay(200 * time.Millisecond)
	st := newRecorder()
	c := newClient(t, srv.URL, st)
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.Chat(ctx, assistant.ChatRequest{Messages: []assistant.Message{{Role: "user", Content: "tell me about wizards"}}}, func(assistant.ChatChunk) error { return nil })
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's context.DeadlineExceeded", err)
		}
	}
	if st.isOpen(ollama.OpChat) || st.get(st.outcomes, "chat canceled") != 5 {
		t.Fatalf("after 5 cancelled calls: open=%v, outcomes %v", st.isOpen(ollama.OpChat), st.outcomes)
	}
	// A per-call deadline is Ollama's fault: it counts.
	c2 := newClient(t, srv.URL, st, func(c *ollama.Config) { c.ChatTimeout = 50 * time.Millisecond })
	_, err := c2.Chat(context.Background(), assistant.ChatRequest{Messages: []assistant.Message{{Role: "user", Content: "x"}}}, func(assistant.ChatChunk) error { return nil })
	if !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("per-call deadline: err = %v, want ErrUnavailable", err)
	}
}

func TestChatStreamsAndRoundTripsAToolCall(t *testing.T) {
	srv := ollamatest.New(t, "chat-test")
	st := newRecorder()
	c := newClient(t, srv.URL, st)
	ctx := context.Background()
	tools := []assistant.Tool{{
		Name: "search_catalog", Description: "Search the catalog.",
		Parameters: json.RawMessage(`{"type":"object","required":["query"],"properties":{"query":{"type":"string","description":"what to look for"}}}`),
	}}
	msgs := []assistant.Message{{Role: assistant.RoleSystem, Content: "You help customers of a bookstore."}, {Role: assistant.RoleUser, Content: "books about dragons"}}
	var chunks []assistant.ChatChunk
	res, err := c.Chat(ctx, assistant.ChatRequest{Messages: msgs, Tools: tools}, func(ch assistant.ChatChunk) error {
		chunks = append(chunks, ch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Message.ToolCalls) != 1 || res.Message.ToolCalls[0].Name != "search_catalog" {
		t.Fatalf("tool calls %+v, want one search_catalog", res.Message.ToolCalls)
	}
	var args map[string]string
	if err := json.Unmarshal(res.Message.ToolCalls[0].Arguments, &args); err != nil || args["query"] != "books about dragons" {
		t.Fatalf("arguments %s (%v), want the query", res.Message.ToolCalls[0].Arguments, err)
	}
	if len(chunks) == 0 || len(chunks[0].ToolCalls) != 1 {
		t.Fatalf("chunks %+v: the tool call was not streamed", chunks)
	}
	sent := srv.LastChat()
	if len(sent.Tools) != 1 || sent.Tools[0].Function.Parameters.Required[0] != "query" || sent.Tools[0].Type != "function" {
		t.Fatalf("tools sent %v", sent.Tools)
	}

	msgs = append(msgs, res.Message, assistant.Message{Role: assistant.RoleTool, ToolName: "search_catalog", Content: `[{"title":"The Dragon's Keep"}]`})
	chunks = nil
	res, err = c.Chat(ctx, assistant.ChatRequest{Messages: msgs, Tools: tools}, func(ch assistant.ChatChunk) error {
		chunks = append(chunks, ch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 3 {
		t.Fatalf("%d chunks: the answer was not streamed", len(chunks))
	}
	var joined strings.Builder
	for _, ch := range chunks {
		joined.WriteString(ch.Content)
	}
	if joined.String() != res.Message.Content || !strings.Contains(res.Message.Content, "The Dragon's Keep") {
		t.Fatalf("streamed %q, result %q", joined.String(), res.Message.Content)
	}
	sent = srv.LastChat()
	if got := sent.Messages[2]; len(got.ToolCalls) != 1 || got.ToolCalls[0].Function.Name != "search_catalog" {
		t.Fatalf("assistant tool call not sent back: %+v", got)
	}
	if got := sent.Messages[3]; got.Role != "tool" || got.ToolName != "search_catalog" {
		t.Fatalf("tool result sent as %+v", got)
	}
	if res.PromptTokens == 0 || res.AnswerTokens == 0 || st.get(st.tokens, "chat answer") == 0 {
		t.Fatalf("tokens: prompt %d answer %d, stats %v", res.PromptTokens, res.AnswerTokens, st.tokens)
	}
}

func TestChatStopsWhenTheCallbackFails(t *testing.T) {
	srv := ollamatest.New(t, "chat-test")
	st := newRecorder()
	c := newClient(t, srv.URL, st)
	stop := errors.New("client went away")
	n := 0
	_, err := c.Chat(context.Background(), assistant.ChatRequest{Messages: []assistant.Message{{Role: "user", Content: "one two three four five"}}}, func(assistant.ChatChunk) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err = %v after %d chunks, want the callback's error after 1", err, n)
	}
	if st.isOpen(ollama.OpChat) || st.get(st.outcomes, "chat error") != 0 {
		t.Fatalf("the callback's error was held against Ollama: %v", st.outcomes)
	}
}

func TestNewRefusesABadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:11434", "ftp://x", "http://"} {
		if _, err := ollama.New(ollama.Config{URL: u}); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
}
