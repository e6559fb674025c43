package ollamatest

import (
	"fmt"
	"sync"

	"github.com/ollama/ollama/api"
)

// Reply is a scripted answer of the double's chat model to one /api/chat
// request.
type Reply func(req api.ChatRequest) api.Message

// CallTool is a Reply that asks for the tool name with args, as Ollama
// sends a parsed tool call.
func CallTool(name string, args map[string]any) Reply {
	return func(api.ChatRequest) api.Message {
		a := api.NewToolCallFunctionArguments()
		for k, v := range args {
			a.Set(k, v)
		}
		return api.Message{Role: "assistant", ToolCalls: []api.ToolCall{{ID: "call_" + name,
			Function: api.ToolCallFunction{Name: name, Arguments: a}}}}
	}
}

// AnswerFromTool is a Reply that answers from the last tool result of the
// request: format with %s standing for the result's content (shortened to
// 400 characters), or, when the request has no tool result, a sentence
// saying so.
func AnswerFromTool(format string) Reply {
	return func(req api.ChatRequest) api.Message {
		for i := len(req.Messages) - 1; i >= 0; i-- {
			if m := req.Messages[i]; m.Role == "tool" {
				return api.Message{Role: "assistant", Content: fmt.Sprintf(format, shorten(m.Content, 400))}
			}
		}
		return api.Message{Role: "assistant", Content: "No tool result reached me."}
	}
}

// Say is a Reply that answers text, streamed word by word.
func Say(text string) Reply {
	return func(api.ChatRequest) api.Message { return api.Message{Role: "assistant", Content: text} }
}

// script is a queue of replies per server.
type script struct {
	mu      sync.Mutex
	replies []Reply
}

// scripts holds each Server's script (keyed by the server), kept apart from
// the Server struct so that scripting stays an addition to the double.
var scripts sync.Map // *Server → *script

// Script queues replies: each later /api/chat request takes the next one
// (in the order the requests arrive); once the queue is empty the double
// answers as Answer does again.
func (s *Server) Script(replies ...Reply) {
	v, _ := scripts.LoadOrStore(s, &script{})
	sc := v.(*script)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.replies = append(sc.replies, replies...)
}

// reply is the answer to req: the next scripted reply, or Answer's.
func (s *Server) reply(req api.ChatRequest) api.Message {
	if v, ok := scripts.Load(s); ok {
		sc := v.(*script)
		sc.mu.Lock()
		var next Reply
		if len(sc.replies) > 0 {
			next, sc.replies = sc.replies[0], sc.replies[1:]
		}
		sc.mu.Unlock()
		if next != nil {
			return next(req)
		}
	}
	return Answer(req)
}
