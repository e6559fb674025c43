package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	assistantv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1/assistantv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// assistantServer is a server whose Ollama is the test double.
type assistantServer struct {
	s  *server
	ai *ollamatest.Server
}

// startAIServer starts a server whose Ollama is the deterministic double
// (ollamatest), on a database and an exchange of its own so that its book
// events reach only its consumer; name names its log.
func startAIServer(t *testing.T, name string) (*server, *ollamatest.Server) {
	t.Helper()
	ai, err := ollamatest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ai.Stop)
	prefix := "e2e-" + name + "-" + strings.ToLower(token(8))
	env := append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false",
		"BOOKWORM_OLLAMA_URL="+ai.URL, "BOOKWORM_EMBED_MODEL=double", "BOOKWORM_CHAT_MODEL=double",
		"BOOKWORM_AMQP_URL="+mq.URL, "BOOKWORM_AMQP_EXCHANGE="+prefix, "BOOKWORM_AMQP_QUEUE_PREFIX="+prefix)
	s, err := startServer(t.Context(), serverBin, newDatabase(t), serverTmp+"/"+name+".log", env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("%s server: %v", name, err)
		}
		if t.Failed() {
			s.dumpLogs()
		}
	})
	return s, ai
}

func (a *assistantServer) client(t *testing.T, p protocol, tok string) assistantv1connect.AssistantServiceClient {
	t.Helper()
	httpClient, opts := connectOptions(t, clientOptions{Protocol: p, Token: tok})
	return assistantv1connect.NewAssistantServiceClient(httpClient, a.s.baseURL, opts...)
}

// chatTurn is what a Chat stream delivered.
type chatTurn struct {
	conversation string
	text         string
	chunks       int
	tools        []string // "search_catalog:STARTED", ...
	completed    *assistantv1.ChatCompleted
}

// chat runs one Chat call to its end.
func chat(ctx context.Context, c assistantv1connect.AssistantServiceClient, conversation, msg string) (chatTurn, error) {
	st, err := c.Chat(ctx, connect.NewRequest(&assistantv1.ChatRequest{ConversationId: conversation, Message: msg}))
	if err != nil {
		return chatTurn{}, err
	}
	defer st.Close()
	var turn chatTurn
	for st.Receive() {
		switch ev := st.Msg().GetEvent().(type) {
		case *assistantv1.ChatResponse_Started:
			turn.conversation = ev.Started.GetConversationId()
		case *assistantv1.ChatResponse_Text:
			turn.text += ev.Text.GetText()
			turn.chunks++
		case *assistantv1.ChatResponse_Tool:
			turn.tools = append(turn.tools, ev.Tool.GetTool()+":"+strings.TrimPrefix(ev.Tool.GetPhase().String(), "TOOL_PHASE_"))
		case *assistantv1.ChatResponse_Completed:
			turn.completed = ev.Completed
		}
	}
	return turn, st.Err()
}

// TestAssistant drives the assistant over the real server with the Ollama
// double: a streamed answer with a tool call round trip through the
// catalog, every protocol, a client leaving mid-stream, owners, input
// limits, and Ollama going away and coming back.
func TestAssistant(t *testing.T) {
	s, ai := startAIServer(t, "assistant")
	a := &assistantServer{s: s, ai: ai}
	noServerErrorsAfter(t, a.s)
	alice, bob := userToken(t, "assistant-alice-"+token(6)), userToken(t, "assistant-bob-"+token(6))
	catalog := catalogv1connect.NewCatalogServiceClient(http1Client(t), a.s.baseURL, connect.WithInterceptors(bearer(adminToken)))
	f := newFixture(t, catalog, 1)
	book := f.createBook(t, func(in *catalogv1.BookInput) {
		in.Title, in.Description = "The Keeper of Gull Rock Light", "A lighthouse keeper and a winter storm."
	})

	t.Run("a streamed answer with a tool call round trip", func(t *testing.T) {
		a.ai.Script(ollamatest.CallTool("search_catalog", map[string]any{"query": "Gull Rock"}),
			ollamatest.AnswerFromTool("From the catalog: %s"))
		c := a.client(t, connectJSON, alice)
		turn, err := chat(t.Context(), c, "", "Do you have a book about the Gull Rock lighthouse?")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(turn.tools, " "); got != "search_catalog:STARTED search_catalog:FINISHED" {
			t.Errorf("tool activity %q", got)
		}
		if !strings.Contains(turn.text, book.GetTitle()) || !strings.HasPrefix(turn.text, "From the catalog:") || turn.chunks < 3 {
			t.Errorf("answer %q in %d chunks: want the catalog's book, streamed", turn.text, turn.chunks)
		}
		done := turn.completed
		if done == nil || done.GetConversationId() != turn.conversation || done.GetFinishReason() != assistantv1.FinishReason_FINISH_REASON_STOP ||
			done.GetToolCalls() != 1 || done.GetPromptTokens() <= 0 || done.GetAnswerTokens() <= 0 {
			t.Fatalf("completion %v (conversation %q)", done, turn.conversation)
		}
		// The model read the tool's result: the double's last request
		// carried it.
		last := a.ai.LastChat()
		if m := last.Messages[len(last.Messages)-1]; m.Role != "tool" || !strings.Contains(m.Content, book.GetId()) {
			t.Errorf("the model's last message %+v, want the search result naming the book", m)
		}
		got, err := c.GetConversation(t.Context(), connect.NewRequest(&assistantv1.GetConversationRequest{Id: turn.conversation}))
		if err != nil {
			t.Fatal(err)
		}
		msgs := got.Msg.GetMessages()
		if len(msgs) != 2 || msgs[0].GetRole() != assistantv1.Role_ROLE_USER || msgs[1].GetText() != turn.text ||
			strings.Join(msgs[1].GetTools(), ",") != "search_catalog" || msgs[1].GetInterrupted() || got.Msg.GetConversation().GetMessageCount() != 2 {
			t.Fatalf("stored conversation %v", got.Msg)
		}
	})

	t.Run("every protocol streams", func(t *testing.T) {
		var conversation string
		for _, p := range []protocol{connectJSON, connectProto, grpcProto, grpcWeb} {
			turn, err := chat(t.Context(), a.client(t, p, alice), conversation, "Hello over "+string(p))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if turn.completed == nil || turn.text == "" || (conversation != "" && turn.conversation != conversation) {
				t.Fatalf("%s: %+v", p, turn)
			}
			conversation = turn.conversation
		}
		got, err := a.client(t, connectProto, alice).GetConversation(t.Context(), connect.NewRequest(&assistantv1.GetConversationRequest{Id: conversation}))
		if err != nil || len(got.Msg.GetMessages()) != 8 {
			t.Fatalf("one conversation over four protocols: %v, %v", got, err)
		}
	})

	t.Run("a client leaving mid-stream", func(t *testing.T) {
		a.ai.SetChunkDelay(50 * time.Millisecond)
		defer a.ai.SetChunkDelay(0)
		a.ai.Script(ollamatest.Say(strings.Repeat("word ", 200)))
		c := a.client(t, connectJSON, alice)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		st, err := c.Chat(ctx, connect.NewRequest(&assistantv1.ChatRequest{Message: "Tell me a very long story"}))
		if err != nil {
			t.Fatal(err)
		}
		var conversation string
		texts := 0
		for texts < 3 && st.Receive() {
			switch ev := st.Msg().GetEvent().(type) {
			case *assistantv1.ChatResponse_Started:
				conversation = ev.Started.GetConversationId()
			case *assistantv1.ChatResponse_Text:
				texts++
			}
		}
		if texts < 3 {
			t.Fatalf("the stream ended before three pieces: %v", st.Err())
		}
		cancel()
		_ = st.Close()
		// What the client saw is kept, marked interrupted; the server
		// answers at once.
		var msgs []*assistantv1.Message
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := c.GetConversation(t.Context(), connect.NewRequest(&assistantv1.GetConversationRequest{Id: conversation}))
			if err != nil {
				t.Fatal(err)
			}
			if msgs = got.Msg.GetMessages(); len(msgs) == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(msgs) != 2 || !msgs[1].GetInterrupted() || !strings.HasPrefix(msgs[1].GetText(), "word word word") ||
			len(msgs[1].GetText()) >= len(strings.Repeat("word ", 200)) {
			t.Fatalf("after the client left: %v", msgs)
		}
		a.ai.SetChunkDelay(0)
		if turn, err := chat(t.Context(), c, conversation, "Are you still there?"); err != nil || turn.completed == nil {
			t.Fatalf("the next turn: %+v, %v", turn, err)
		}
	})

	t.Run("a conversation is its owner's only", func(t *testing.T) {
		mine, err := chat(t.Context(), a.client(t, connectProto, alice), "", "My secret reading list")
		if err != nil {
			t.Fatal(err)
		}
		c := a.client(t, connectProto, bob)
		_, err = c.GetConversation(t.Context(), connect.NewRequest(&assistantv1.GetConversationRequest{Id: mine.conversation}))
		expectCode(t, "GetConversation of another user's", err, connect.CodeNotFound)
		_, err = chat(t.Context(), c, mine.conversation, "What did she ask?")
		expectCode(t, "Chat in another user's", err, connect.CodeNotFound)
		_, err = c.DeleteConversation(t.Context(), connect.NewRequest(&assistantv1.DeleteConversationRequest{Id: mine.conversation}))
		expectCode(t, "DeleteConversation of another user's", err, connect.CodeNotFound)
		list, err := c.ListConversations(t.Context(), connect.NewRequest(&assistantv1.ListConversationsRequest{}))
		if err != nil || len(list.Msg.GetConversations()) != 0 {
			t.Fatalf("bob lists %v, %v", list, err)
		}
		_, err = chat(t.Context(), a.client(t, connectProto, ""), "", "hello")
		expectCode(t, "anonymous Chat", err, connect.CodeUnauthenticated)
		// Alice lists hers, newest first, and deletes one.
		ac := a.client(t, connectProto, alice)
		list, err = ac.ListConversations(t.Context(), connect.NewRequest(&assistantv1.ListConversationsRequest{PageSize: 1}))
		if err != nil || len(list.Msg.GetConversations()) != 1 || list.Msg.GetConversations()[0].GetId() != mine.conversation || list.Msg.GetNextPageToken() == "" {
			t.Fatalf("alice's first page %v, %v", list, err)
		}
		if _, err := ac.DeleteConversation(t.Context(), connect.NewRequest(&assistantv1.DeleteConversationRequest{Id: mine.conversation})); err != nil {
			t.Fatal(err)
		}
		_, err = ac.GetConversation(t.Context(), connect.NewRequest(&assistantv1.GetConversationRequest{Id: mine.conversation}))
		expectCode(t, "a deleted conversation", err, connect.CodeNotFound)
	})

	t.Run("input limits", func(t *testing.T) {
		c := a.client(t, connectJSON, alice)
		for name, msg := range map[string]string{"empty": "", "blank": "   ", "too long": strings.Repeat("é", 4001)} {
			_, err := chat(t.Context(), c, "", msg)
			expectCode(t, name+" message", err, connect.CodeInvalidArgument)
		}
		_, err := chat(t.Context(), c, "not-a-uuid", "hi")
		expectCode(t, "a malformed conversation id", err, connect.CodeInvalidArgument)
	})

	t.Run("ollama down, the assistant is offline", func(t *testing.T) {
		c := a.client(t, connectJSON, alice)
		before, err := c.ListConversations(t.Context(), connect.NewRequest(&assistantv1.ListConversationsRequest{PageSize: 100}))
		if err != nil {
			t.Fatal(err)
		}
		a.ai.Stop()
		for range 5 { // past the breaker's threshold too
			_, err := chat(t.Context(), c, "", "Anyone there?")
			expectCode(t, "Chat without Ollama", err, connect.CodeUnavailable)
			if err != nil && !strings.Contains(err.Error(), "assistant is offline") {
				t.Fatalf("Chat without Ollama: %v, want a message saying the assistant is offline", err)
			}
		}
		// The unanswered turns left nothing; the conversations still read.
		after, err := c.ListConversations(t.Context(), connect.NewRequest(&assistantv1.ListConversationsRequest{PageSize: 100}))
		if err != nil || len(after.Msg.GetConversations()) != len(before.Msg.GetConversations()) {
			t.Fatalf("conversations while offline: %d, before %d (%v)", len(after.Msg.GetConversations()), len(before.Msg.GetConversations()), err)
		}
		if err := a.ai.Restart(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			turn, err := chat(t.Context(), c, "", "Back again?")
			if err == nil && turn.completed != nil {
				break
			}
			if connect.CodeOf(err) != connect.CodeUnavailable || time.Now().After(deadline) {
				t.Fatalf("after Ollama came back: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

func expectCode(t *testing.T, what string, err error, code connect.Code) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Errorf("%s: %v, want %v", what, err, code)
	}
}
