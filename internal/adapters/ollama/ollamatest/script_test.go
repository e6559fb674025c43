package ollamatest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
)

// TestScriptedToolRoundTrip drives the double with Ollama's own client: a
// scripted tool call, an answer from the tool's result, then the default
// answers again.
func TestScriptedToolRoundTrip(t *testing.T) {
	s := ollamatest.New(t)
	base, _ := url.Parse(s.URL)
	c := api.NewClient(base, http.DefaultClient)
	s.Script(ollamatest.CallTool("search_catalog", map[string]any{"query": "lighthouse", "page_size": 3}),
		ollamatest.AnswerFromTool("I found: %s"))
	chat := func(msgs ...api.Message) (text string, calls []api.ToolCall, chunks int) {
		t.Helper()
		err := c.Chat(t.Context(), &api.ChatRequest{Model: "m", Messages: msgs}, func(r api.ChatResponse) error {
			text += r.Message.Content
			calls = append(calls, r.Message.ToolCalls...)
			chunks++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return text, calls, chunks
	}
	user := api.Message{Role: "user", Content: "books about lighthouses"}
	_, calls, _ := chat(user)
	if len(calls) != 1 || calls[0].Function.Name != "search_catalog" {
		t.Fatalf("first reply: calls %+v", calls)
	}
	if q, _ := calls[0].Function.Arguments.Get("query"); q != "lighthouse" {
		t.Fatalf("arguments %v", calls[0].Function.Arguments)
	}
	result := api.Message{Role: "tool", ToolName: "search_catalog", Content: `{"books":[{"title":"The Keeper"}]}`}
	text, _, chunks := chat(user, api.Message{Role: "assistant", ToolCalls: calls}, result)
	if text != `I found: {"books":[{"title":"The Keeper"}]}` || chunks < 3 {
		t.Fatalf("second reply %q in %d chunks, want the tool's result streamed", text, chunks)
	}
	// The script is used up: the default answer again.
	if text, _, _ := chat(user); !strings.HasPrefix(text, "Summary:") {
		t.Fatalf("after the script: %q", text)
	}
}
