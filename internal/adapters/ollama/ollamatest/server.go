// Package ollamatest is a deterministic test double of the Ollama HTTP API
// (the parts BookWorm's adapter uses: /api/embed, streamed /api/chat with
// tool calls, /api/tags, /api/show, /api/version), for tests only.
//
// Its embeddings (Embed) are computed from the text: a small concept table
// puts known paraphrases on shared dimensions and hashing spreads the other
// words, so relevance tests know which book a query must find. Its chat
// model asks for a tool when tools are offered, answers from a tool's
// result, and otherwise answers with a fixed sentence naming the last user
// message's words. It can be stopped and started again on the same address,
// to test what BookWorm does while Ollama is away.
package ollamatest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
)

// Server is the double. It is safe for concurrent use.
type Server struct {
	// URL is the base URL (http://127.0.0.1:PORT), the same after Restart.
	URL string

	addr string
	mu   sync.Mutex
	srv  *http.Server
	// models, when not empty, are the only model names served; others get
	// Ollama's 404.
	models []string

	embedCalls atomic.Int64
	embedTexts atomic.Int64
	chatCalls  atomic.Int64
	chunkDelay atomic.Int64
	lastChat   atomic.Pointer[api.ChatRequest]
}

// New starts a double on a free loopback port and stops it when the test
// ends. models, when given, are the only model names it serves.
func New(t testing.TB, models ...string) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", models...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts a double listening on addr ("127.0.0.1:0" for a free port).
func Start(addr string, models ...string) (*Server, error) {
	s := &Server{models: models}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.serve(ln)
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/embed", s.embed)
	mux.HandleFunc("POST /api/chat", s.chat)
	mux.HandleFunc("GET /api/tags", s.tags)
	mux.HandleFunc("POST /api/show", s.show)
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "0.0.0-ollamatest"})
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "Ollama is running") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and every connection: callers see connection
// refused, as with a stopped Ollama. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			s.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// SetChunkDelay makes the streamed chat wait d before each chunk (to test
// cancellation mid-stream).
func (s *Server) SetChunkDelay(d time.Duration) { s.chunkDelay.Store(int64(d)) }

// EmbedCalls returns how many /api/embed calls were answered, and EmbedTexts
// how many texts they embedded.
func (s *Server) EmbedCalls() int64 { return s.embedCalls.Load() }

// EmbedTexts returns how many texts /api/embed embedded.
func (s *Server) EmbedTexts() int64 { return s.embedTexts.Load() }

// ChatCalls returns how many /api/chat calls were answered.
func (s *Server) ChatCalls() int64 { return s.chatCalls.Load() }

// LastChat returns the last /api/chat request, or nil.
func (s *Server) LastChat() *api.ChatRequest { return s.lastChat.Load() }

func (s *Server) known(model string) bool {
	if len(s.models) == 0 {
		return model != ""
	}
	for _, m := range s.models {
		if m == model || strings.TrimSuffix(m, ":latest") == strings.TrimSuffix(model, ":latest") {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, model string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("model %q not found, try pulling it first", model)})
}

func (s *Server) embed(w http.ResponseWriter, r *http.Request) {
	var req api.EmbedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !s.known(req.Model) {
		notFound(w, req.Model)
		return
	}
	var texts []string
	switch in := req.Input.(type) {
	case string:
		texts = []string{in}
	case []any:
		for _, x := range in {
			t, ok := x.(string)
			if !ok {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid input type"})
				return
			}
			texts = append(texts, t)
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid input type"})
		return
	}
	resp := api.EmbedResponse{Model: req.Model}
	for _, t := range texts {
		resp.Embeddings = append(resp.Embeddings, Embed(t))
		resp.PromptEvalCount += len(strings.Fields(t))
	}
	s.embedCalls.Add(1)
	s.embedTexts.Add(int64(len(texts)))
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tags(w http.ResponseWriter, _ *http.Request) {
	var resp api.ListResponse
	for _, m := range s.models {
		resp.Models = append(resp.Models, api.ListModelResponse{Name: m, Model: m})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	var req api.ShowRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !s.known(req.Model) {
		notFound(w, req.Model)
		return
	}
	writeJSON(w, http.StatusOK, api.ShowResponse{
		Details:   api.ModelDetails{Format: "gguf", Family: "ollamatest"},
		ModelInfo: map[string]any{"general.architecture": "ollamatest", "ollamatest.embedding_length": Dimension},
	})
}

// Answer returns what the double's chat model answers to req (before it is
// cut into streamed chunks): a tool call when tools are offered and the last
// message is the user's, an answer from the tool's result after one, and a
// fixed sentence otherwise.
func Answer(req api.ChatRequest) api.Message {
	msg := api.Message{Role: "assistant"}
	if len(req.Messages) == 0 {
		msg.Content = "Hello."
		return msg
	}
	last := req.Messages[len(req.Messages)-1]
	switch {
	case last.Role == "user" && len(req.Tools) > 0:
		tool := req.Tools[0]
		for _, t := range req.Tools {
			if t.Function.Name == "search_catalog" {
				tool = t
			}
		}
		arg := "query"
		if req := tool.Function.Parameters.Required; len(req) > 0 {
			arg = req[0]
		}
		args := api.NewToolCallFunctionArguments()
		args.Set(arg, last.Content)
		msg.ToolCalls = []api.ToolCall{{ID: "call_1", Function: api.ToolCallFunction{Name: tool.Function.Name, Arguments: args}}}
	case last.Role == "tool":
		msg.Content = fmt.Sprintf("Here is what %s found: %s", last.ToolName, shorten(last.Content, 400))
	default:
		var user string
		for _, m := range req.Messages {
			if m.Role == "user" {
				user = m.Content
			}
		}
		msg.Content = "Summary: " + strings.Join(first(Words(user), 12), " ") + "."
	}
	return msg
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req api.ChatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if !s.known(req.Model) {
		notFound(w, req.Model)
		return
	}
	s.chatCalls.Add(1)
	s.lastChat.Store(&req)
	answer := s.reply(req)
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	done := func(m api.Message, evals int) api.ChatResponse {
		return api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: m, Done: true, DoneReason: "stop",
			Metrics: api.Metrics{PromptEvalCount: prompt, EvalCount: evals}}
	}
	words := strings.SplitAfter(answer.Content, " ")
	if req.Stream != nil && !*req.Stream {
		writeJSON(w, http.StatusOK, done(answer, len(words)+len(answer.ToolCalls)))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(resp api.ChatResponse) error {
		if d := time.Duration(s.chunkDelay.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return r.Context().Err()
			case <-t.C:
			}
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	chunk := func(m api.Message) api.ChatResponse {
		return api.ChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: m}
	}
	if len(answer.ToolCalls) > 0 {
		// Ollama sends the parsed tool calls in a chunk of their own.
		if send(chunk(api.Message{Role: "assistant", ToolCalls: answer.ToolCalls})) != nil {
			return
		}
	}
	for _, wd := range words {
		if wd == "" {
			continue
		}
		if send(chunk(api.Message{Role: "assistant", Content: wd})) != nil {
			return // the client went away
		}
	}
	_ = send(done(api.Message{Role: "assistant"}, len(words)+len(answer.ToolCalls)))
}
