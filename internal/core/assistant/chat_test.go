package assistant_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/assistant/assistanttest"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// step is what the fake model does on one call: stream chunks, then answer
// with calls (when any) or return err.
type step func(ctx context.Context, req assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error)

// fakeModel plays its steps in order, one per call, and records the
// requests; past the last step it repeats it.
type fakeModel struct {
	mu    sync.Mutex
	steps []step
	reqs  []assistant.ChatRequest
}

func (m *fakeModel) Chat(ctx context.Context, req assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
	m.mu.Lock()
	i := min(len(m.reqs), len(m.steps)-1)
	m.reqs = append(m.reqs, req)
	st := m.steps[i]
	m.mu.Unlock()
	return st(ctx, req, onChunk)
}

func (m *fakeModel) requests() []assistant.ChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reqs)
}

// say streams words as chunks and answers with their text.
func say(words ...string) step {
	return func(_ context.Context, _ assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
		for _, w := range words {
			if err := onChunk(assistant.ChatChunk{Content: w}); err != nil {
				return assistant.ChatResult{}, err
			}
		}
		return assistant.ChatResult{Message: assistant.Message{Role: assistant.RoleAssistant, Content: strings.Join(words, "")},
			PromptTokens: 10, AnswerTokens: len(words)}, nil
	}
}

// ask asks for tool calls, each "name {json}".
func ask(calls ...string) step {
	return func(context.Context, assistant.ChatRequest, func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
		var tcs []assistant.ToolCall
		for _, c := range calls {
			name, args, _ := strings.Cut(c, " ")
			tcs = append(tcs, assistant.ToolCall{Name: name, Arguments: json.RawMessage(args)})
		}
		return assistant.ChatResult{Message: assistant.Message{Role: assistant.RoleAssistant, ToolCalls: tcs},
			PromptTokens: 10, AnswerTokens: 1}, nil
	}
}

func fail(err error) step {
	return func(context.Context, assistant.ChatRequest, func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
		return assistant.ChatResult{}, err
	}
}

// toolCall is one call the fake toolbox received.
type toolCall struct {
	name, args, caller string
}

// fakeToolbox offers search_catalog and get_book; results are canned, and
// a tool named in errs fails with that error.
type fakeToolbox struct {
	mu    sync.Mutex
	calls []toolCall
	errs  map[string]error
}

func (f *fakeToolbox) Tools(context.Context) []assistant.Tool {
	return []assistant.Tool{
		{Name: "search_catalog", Description: "Search the catalog.", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)},
		{Name: "get_book", Description: "Get a book by id.", Parameters: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`)},
	}
}

func (f *fakeToolbox) Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	p, _ := identity.FromContext(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, toolCall{name: name, args: string(args), caller: p.Subject})
	err := f.errs[name]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return json.RawMessage(fmt.Sprintf(`{"tool":%q,"books":[{"title":"A History of the Lighthouse"}]}`, name)), nil
}

func (f *fakeToolbox) called() []toolCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

var (
	reader   = identity.Principal{Subject: "alice", Roles: []string{identity.RoleUser}}
	intruder = identity.Principal{Subject: "bob", Roles: []string{identity.RoleUser}}
)

func as(p identity.Principal) context.Context {
	return identity.WithPrincipal(context.Background(), p)
}

type harness struct {
	store *assistanttest.MemoryStore
	model *fakeModel
	tools *fakeToolbox
	svc   *assistant.Service
}

func newHarness(limits assistant.Limits, steps ...step) *harness {
	h := &harness{store: assistanttest.NewMemoryStore(), model: &fakeModel{steps: steps}, tools: &fakeToolbox{}}
	h.svc = assistant.NewService(h.store, h.model, h.tools, limits, nil)
	return h
}

// chat runs a turn and returns its events and error.
func (h *harness) chat(ctx context.Context, conversation, msg string) ([]assistant.Event, error) {
	var evs []assistant.Event
	err := h.svc.Chat(ctx, assistant.ChatInput{ConversationID: conversation, Message: msg}, func(e assistant.Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// describe writes events compactly: "started", "text:Found ", "tool+:name",
// "tool-:name", "toolx:name", "completed:stop/1".
func describe(evs []assistant.Event) string {
	var out []string
	for _, e := range evs {
		switch e.Kind {
		case assistant.EventStarted:
			out = append(out, "started")
		case assistant.EventText:
			out = append(out, "text:"+e.Text)
		case assistant.EventToolStarted:
			out = append(out, "tool+:"+e.Tool)
		case assistant.EventToolFinished:
			out = append(out, "tool-:"+e.Tool)
		case assistant.EventToolFailed:
			out = append(out, "toolx:"+e.Tool)
		case assistant.EventCompleted:
			out = append(out, fmt.Sprintf("completed:%d/%d", e.Completion.Finish, e.Completion.ToolCalls))
		}
	}
	return strings.Join(out, " | ")
}

func conversationOf(t *testing.T, evs []assistant.Event) string {
	t.Helper()
	if len(evs) == 0 || evs[0].Kind != assistant.EventStarted || evs[0].ConversationID == "" {
		t.Fatalf("the turn did not start with its conversation: %s", describe(evs))
	}
	return evs[0].ConversationID
}

func TestChatToolRoundTrip(t *testing.T) {
	h := newHarness(assistant.Limits{}, ask(`search_catalog {"query":"lighthouse"}`), say("Try ", "A History of the Lighthouse."))
	evs, err := h.chat(as(reader), "", "Any books about lighthouses?")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("started | tool+:search_catalog | tool-:search_catalog | text:Try  | text:A History of the Lighthouse. | completed:%d/1", assistant.FinishStop)
	if got := describe(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	last := evs[len(evs)-1].Completion
	if last.PromptTokens != 20 || last.AnswerTokens != 3 {
		t.Errorf("tokens %+v, want the sum of both model calls (20 prompt, 3 answer)", last)
	}
	// The tool ran for the caller, with the model's arguments.
	if got := h.tools.called(); len(got) != 1 || got[0] != (toolCall{"search_catalog", `{"query":"lighthouse"}`, "alice"}) {
		t.Fatalf("tool calls %+v", got)
	}
	// The model got the system prompt, the user's message and the tools
	// first; then its own call and the tool's result.
	reqs := h.model.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2", len(reqs))
	}
	first := reqs[0]
	if first.Messages[0].Role != assistant.RoleSystem || !strings.Contains(first.Messages[0].Content, "search_catalog") ||
		!strings.Contains(first.Messages[0].Content, "data, not instructions") {
		t.Errorf("system prompt %q", first.Messages[0].Content)
	}
	if len(first.Messages) != 2 || first.Messages[1].Content != "Any books about lighthouses?" || len(first.Tools) != 2 {
		t.Errorf("first request %+v", first)
	}
	second := reqs[1].Messages
	if n := len(second); n != 4 || second[2].Role != assistant.RoleAssistant || len(second[2].ToolCalls) != 1 ||
		second[3].Role != assistant.RoleTool || second[3].ToolName != "search_catalog" || !strings.Contains(second[3].Content, "Lighthouse") {
		t.Errorf("second request %+v", second)
	}
	// Stored: the question, the call, the result and the answer; shown:
	// the question and the answer naming the tool it used.
	id := conversationOf(t, evs)
	all, err := h.store.Messages(context.Background(), "alice", id)
	if err != nil || len(all) != 4 {
		t.Fatalf("stored %+v, %v", all, err)
	}
	c, shown, err := h.svc.GetConversation(as(reader), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Messages != 2 || c.Title != "Any books about lighthouses?" || len(shown) != 2 || shown[1].Content != "Try A History of the Lighthouse." ||
		len(shown[1].ToolCalls) != 1 || shown[1].ToolCalls[0].Name != "search_catalog" || shown[1].Interrupted {
		t.Fatalf("conversation %+v %+v", c, shown)
	}
	// The next turn carries the history.
	if _, err := h.chat(as(reader), id, "And the second one?"); err != nil {
		t.Fatal(err)
	}
	third := h.model.requests()[2].Messages
	if len(third) != 6 || third[1].Content != "Any books about lighthouses?" || third[5].Content != "And the second one?" {
		t.Fatalf("history of the next turn: %+v", third)
	}
}

func TestChatToolCallLimit(t *testing.T) {
	t.Run("the model is told, then answers", func(t *testing.T) {
		h := newHarness(assistant.Limits{ToolCalls: 3},
			ask(`search_catalog {"query":"a"}`, `get_book {"id":"1"}`),
			ask(`search_catalog {"query":"b"}`, `search_catalog {"query":"c"}`),
			say("Here is what I found."))
		evs, err := h.chat(as(reader), "", "Find everything")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(h.tools.called()); n != 3 {
			t.Fatalf("%d tool calls ran, want the limit of 3", n)
		}
		reqs := h.model.requests()
		if len(reqs) != 3 || len(reqs[2].Tools) != 0 {
			t.Fatalf("the model was asked %d times; the last time with tools %v", len(reqs), reqs[len(reqs)-1].Tools)
		}
		msgs := reqs[2].Messages
		if last := msgs[len(msgs)-1]; last.Role != assistant.RoleTool || !strings.Contains(last.Content, "tool call limit reached") {
			t.Fatalf("the call past the limit answered %+v", last)
		}
		if c := evs[len(evs)-1]; c.Kind != assistant.EventCompleted || c.Completion.Finish != assistant.FinishStop || c.Completion.ToolCalls != 3 {
			t.Fatalf("ended with %s", describe(evs))
		}
	})
	t.Run("a model that keeps asking is ended", func(t *testing.T) {
		h := newHarness(assistant.Limits{ToolCalls: 2}, ask(`search_catalog {"query":"again"}`))
		evs, err := h.chat(as(reader), "", "Loop forever")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(h.tools.called()); n != 2 {
			t.Fatalf("%d tool calls ran, want 2", n)
		}
		if n := len(h.model.requests()); n != 3 {
			t.Fatalf("%d model calls, want 3 (two with tools, one told to answer)", n)
		}
		if c := evs[len(evs)-1]; c.Kind != assistant.EventCompleted || c.Completion.Finish != assistant.FinishToolCallLimit {
			t.Fatalf("ended with %s", describe(evs))
		}
		_, shown, err := h.svc.GetConversation(as(reader), conversationOf(t, evs))
		if err != nil || len(shown) != 2 || len(shown[1].ToolCalls) != 2 {
			t.Fatalf("conversation %+v, %v", shown, err)
		}
	})
}

// stall streams one chunk, then waits for its context to end.
func stall(first string) step {
	return func(ctx context.Context, _ assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
		if err := onChunk(assistant.ChatChunk{Content: first}); err != nil {
			return assistant.ChatResult{}, err
		}
		<-ctx.Done()
		return assistant.ChatResult{}, ctx.Err()
	}
}

func TestChatDeadline(t *testing.T) {
	h := newHarness(assistant.Limits{TurnTimeout: 50 * time.Millisecond}, stall("Let me think"))
	evs, err := h.chat(as(reader), "", "A slow question")
	if err != nil {
		t.Fatalf("a turn past its deadline must end cleanly, got %v", err)
	}
	want := fmt.Sprintf("started | text:Let me think | completed:%d/0", assistant.FinishTimeLimit)
	if got := describe(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	_, shown, err := h.svc.GetConversation(as(reader), conversationOf(t, evs))
	if err != nil || len(shown) != 2 || shown[1].Content != "Let me think" || !shown[1].Interrupted {
		t.Fatalf("the cut answer is not kept as interrupted: %+v, %v", shown, err)
	}
}

func TestChatClientGone(t *testing.T) {
	h := newHarness(assistant.Limits{}, stall("Part of"))
	ctx, cancel := context.WithCancel(as(reader))
	defer cancel()
	var id string
	err := h.svc.Chat(ctx, assistant.ChatInput{Message: "Tell me a long story"}, func(e assistant.Event) error {
		if e.Kind == assistant.EventStarted {
			id = e.ConversationID
		}
		if e.Kind == assistant.EventText {
			cancel() // the client leaves after the first piece
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Chat = %v, want context.Canceled", err)
	}
	_, shown, err := h.svc.GetConversation(as(reader), id)
	if err != nil || len(shown) != 2 || shown[0].Content != "Tell me a long story" || shown[1].Content != "Part of" || !shown[1].Interrupted {
		t.Fatalf("after a disconnect the conversation holds %+v, %v", shown, err)
	}
	// A model that ends its stream cleanly when its caller goes: the
	// answer is still cut.
	h = newHarness(assistant.Limits{}, func(ctx context.Context, _ assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
		_ = onChunk(assistant.ChatChunk{Content: "Once"})
		<-ctx.Done()
		return assistant.ChatResult{Message: assistant.Message{Role: assistant.RoleAssistant, Content: "Once"}}, nil
	})
	ctx, cancel = context.WithCancel(as(reader))
	err = h.svc.Chat(ctx, assistant.ChatInput{Message: "A story"}, func(e assistant.Event) error {
		if e.Kind == assistant.EventStarted {
			id = e.ConversationID
		}
		if e.Kind == assistant.EventText {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Chat = %v, want context.Canceled", err)
	}
	if _, shown, err := h.svc.GetConversation(as(reader), id); err != nil || len(shown) != 2 || !shown[1].Interrupted {
		t.Fatalf("an answer cut by a clean end of stream: %+v, %v", shown, err)
	}
	// A stream that fails to send ends the turn the same way.
	h = newHarness(assistant.Limits{}, say("a", "b", "c"))
	sendErr := errors.New("stream closed")
	err = h.svc.Chat(as(reader), assistant.ChatInput{Message: "hi"}, func(e assistant.Event) error {
		if e.Kind == assistant.EventText {
			return sendErr
		}
		return nil
	})
	if !errors.Is(err, sendErr) {
		t.Fatalf("Chat with a broken stream = %v", err)
	}
}

func TestChatHistoryBound(t *testing.T) {
	h := newHarness(assistant.Limits{HistoryMessages: 5, HistoryChars: 40}, say("ok"))
	evs, err := h.chat(as(reader), "", strings.Repeat("x", 30))
	if err != nil {
		t.Fatal(err)
	}
	id := conversationOf(t, evs)
	for i := range 4 {
		if _, err := h.chat(as(reader), id, fmt.Sprintf("question %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Stored before the last turn ("question 3"): 4 questions, 4 answers.
	// Sent with it: at most 5 earlier messages, starting at a question
	// ("ok", "question 1", "ok", "question 2", "ok" would start at an
	// answer).
	reqs := h.model.requests()
	msgs := reqs[len(reqs)-1].Messages
	var got []string
	for _, m := range msgs[1:] {
		got = append(got, m.Content)
	}
	if want := "[question 1 ok question 2 ok question 3]"; fmt.Sprint(got) != want {
		t.Fatalf("sent %v, want %s", got, want)
	}
	// The character budget alone: a long earlier message is left out.
	h = newHarness(assistant.Limits{HistoryChars: 40}, say("ok"))
	evs, _ = h.chat(as(reader), "", strings.Repeat("y", 50))
	if _, err := h.chat(as(reader), conversationOf(t, evs), "short"); err != nil {
		t.Fatal(err)
	}
	reqs = h.model.requests()
	if msgs := reqs[len(reqs)-1].Messages; len(msgs) != 2 || msgs[1].Content != "short" {
		t.Fatalf("sent %+v, want the system prompt and the new message only", msgs)
	}
}

func TestChatOffline(t *testing.T) {
	down := fmt.Errorf("%w: ollama chat: circuit open", failure.ErrUnavailable)
	h := newHarness(assistant.Limits{}, fail(down))
	evs, err := h.chat(as(reader), "", "Hello?")
	if !errors.Is(err, failure.ErrUnavailable) || !strings.Contains(err.Error(), "assistant is offline") {
		t.Fatalf("Chat = %v, want Unavailable saying the assistant is offline", err)
	}
	// The unanswered message of a new conversation leaves nothing.
	id := conversationOf(t, evs)
	if _, _, err := h.svc.GetConversation(as(reader), id); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("the unanswered conversation is kept: %v", err)
	}
	// In a conversation with history, only the unanswered message goes.
	h.model.steps = []step{say("Hi.")}
	evs, err = h.chat(as(reader), "", "Hello")
	if err != nil {
		t.Fatal(err)
	}
	id = conversationOf(t, evs)
	h.model.steps = []step{fail(down)}
	if _, err := h.chat(as(reader), id, "Still there?"); !errors.Is(err, assistant.ErrOffline) {
		t.Fatalf("Chat = %v", err)
	}
	if _, shown, err := h.svc.GetConversation(as(reader), id); err != nil || len(shown) != 2 {
		t.Fatalf("after an offline turn: %+v, %v", shown, err)
	}
	// No model configured at all: offline, nothing stored.
	svc := assistant.NewService(h.store, nil, nil, assistant.Limits{}, nil)
	if err := svc.Chat(as(intruder), assistant.ChatInput{Message: "anyone?"}, func(assistant.Event) error { return nil }); !errors.Is(err, assistant.ErrOffline) {
		t.Fatalf("Chat without a model = %v", err)
	}
	if page, _ := svc.ListConversations(as(intruder), 0, ""); len(page.Conversations) != 0 {
		t.Fatalf("a conversation was stored without a model: %+v", page)
	}
}

func TestChatToolFailure(t *testing.T) {
	h := newHarness(assistant.Limits{}, ask(`get_book {"id":"nope"}`), say("That id is not a book."))
	h.tools.errs = map[string]error{"get_book": failure.Invalid("id", "must be a UUID")}
	evs, err := h.chat(as(reader), "", "Show me book nope")
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(evs); !strings.Contains(got, "tool+:get_book | toolx:get_book | text:That id") {
		t.Fatalf("events %s", got)
	}
	msgs := h.model.requests()[1].Messages
	if last := msgs[len(msgs)-1]; last.Role != assistant.RoleTool || !strings.Contains(last.Content, "must be a UUID") {
		t.Fatalf("the model read %+v", last)
	}
}

func TestConversationsAreTheOwners(t *testing.T) {
	h := newHarness(assistant.Limits{}, say("Hello, Alice."))
	evs, err := h.chat(as(reader), "", "Hi, I am Alice")
	if err != nil {
		t.Fatal(err)
	}
	id := conversationOf(t, evs)
	if _, _, err := h.svc.GetConversation(as(intruder), id); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("bob reads alice's conversation: %v", err)
	}
	if _, err := h.chat(as(intruder), id, "What did Alice say?"); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("bob continues alice's conversation: %v", err)
	}
	if err := h.svc.DeleteConversation(as(intruder), id); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("bob deletes alice's conversation: %v", err)
	}
	if page, err := h.svc.ListConversations(as(intruder), 0, ""); err != nil || len(page.Conversations) != 0 {
		t.Errorf("bob lists %+v, %v", page, err)
	}
	if _, _, err := h.svc.GetConversation(context.Background(), id); !errors.Is(err, failure.ErrUnauthenticated) {
		t.Errorf("anonymous: %v", err)
	}
	if err := h.svc.DeleteConversation(as(reader), id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.GetConversation(as(reader), id); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

func TestChatRefusesBadInput(t *testing.T) {
	h := newHarness(assistant.Limits{MessageRunes: 10, ConversationMessages: 4}, say("ok"))
	tests := []struct {
		name, conversation, msg, field string
	}{
		{"blank", "", "  \n", "message"},
		{"too long", "", strings.Repeat("é", 11), "message"},
		{"not UTF-8", "", "a\xffb", "message"},
		{"not a conversation id", "42", "hi", "conversation_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.chat(as(reader), tt.conversation, tt.msg)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Violations[0].Field != tt.field {
				t.Fatalf("Chat = %v, want a violation of %s", err, tt.field)
			}
		})
	}
	if n := len(h.model.requests()); n != 0 {
		t.Fatalf("the model was asked %d times for refused input", n)
	}
	t.Run("a full conversation", func(t *testing.T) {
		evs, err := h.chat(as(reader), "", "one")
		if err != nil {
			t.Fatal(err)
		}
		id := conversationOf(t, evs)
		if _, err := h.chat(as(reader), id, "two"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.chat(as(reader), id, "three"); !errors.Is(err, failure.ErrFailedPrecondition) {
			t.Fatalf("a fifth message: %v, want FailedPrecondition", err)
		}
	})
}
