package ollama

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ollama/ollama/api"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
)

var _ assistant.ChatModel = (*Client)(nil)

// Chat implements assistant.ChatModel over a streamed /api/chat. The whole
// answer shares one deadline (Config.ChatTimeout) and one breaker call; an
// error from onChunk stops the stream (the HTTP request is cancelled, so
// Ollama stops generating) and is returned as it is.
func (c *Client) Chat(ctx context.Context, req assistant.ChatRequest, onChunk func(assistant.ChatChunk) error) (assistant.ChatResult, error) {
	msgs := make([]api.Message, len(req.Messages))
	for i, m := range req.Messages {
		am, err := toAPIMessage(m)
		if err != nil {
			return assistant.ChatResult{}, err
		}
		msgs[i] = am
	}
	tools := make(api.Tools, len(req.Tools))
	for i, t := range req.Tools {
		var params api.ToolFunctionParameters
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &params); err != nil {
				return assistant.ChatResult{}, fmt.Errorf("tool %s: parameters: %w", t.Name, err)
			}
		} else {
			params.Type = "object"
			params.Properties = api.NewToolPropertiesMap()
		}
		tools[i] = api.Tool{Type: "function", Function: api.ToolFunction{Name: t.Name, Description: t.Description, Parameters: params}}
	}
	stream := true
	areq := &api.ChatRequest{Model: c.cfg.ChatModel, Messages: msgs, Tools: tools, Stream: &stream, Format: req.Format}

	var res assistant.ChatResult
	res.Message.Role = assistant.RoleAssistant
	var chunkErr error
	err := c.call(ctx, OpChat, c.cfg.ChatModel, c.chatCB, c.cfg.ChatTimeout, func(ctx context.Context) error {
		res.Message.Content, res.Message.ToolCalls = "", nil
		return c.api.Chat(ctx, areq, func(r api.ChatResponse) error {
			chunk := assistant.ChatChunk{Content: r.Message.Content}
			for _, tc := range r.Message.ToolCalls {
				args, err := json.Marshal(tc.Function.Arguments)
				if err != nil {
					return err
				}
				chunk.ToolCalls = append(chunk.ToolCalls, assistant.ToolCall{Name: tc.Function.Name, Arguments: args})
			}
			res.Message.Content += chunk.Content
			res.Message.ToolCalls = append(res.Message.ToolCalls, chunk.ToolCalls...)
			if r.Done {
				res.PromptTokens, res.AnswerTokens = r.PromptEvalCount, r.EvalCount
			}
			if chunk.Content == "" && len(chunk.ToolCalls) == 0 {
				return nil
			}
			if err := onChunk(chunk); err != nil {
				chunkErr = err
				return fmt.Errorf("%w: %w", errCallerGone, err)
			}
			return nil
		})
	})
	if chunkErr != nil {
		return assistant.ChatResult{}, chunkErr
	}
	if err != nil {
		return assistant.ChatResult{}, err
	}
	c.cfg.Stats.AddTokens(OpChat, c.cfg.ChatModel, "prompt", res.PromptTokens)
	c.cfg.Stats.AddTokens(OpChat, c.cfg.ChatModel, "answer", res.AnswerTokens)
	return res, nil
}

func toAPIMessage(m assistant.Message) (api.Message, error) {
	am := api.Message{Role: m.Role, Content: m.Content, ToolName: m.ToolName}
	for _, tc := range m.ToolCalls {
		args := api.NewToolCallFunctionArguments()
		if len(tc.Arguments) > 0 {
			if err := json.Unmarshal(tc.Arguments, &args); err != nil {
				return api.Message{}, fmt.Errorf("tool call %s: arguments: %w", tc.Name, err)
			}
		}
		am.ToolCalls = append(am.ToolCalls, api.ToolCall{Function: api.ToolCallFunction{Name: tc.Name, Arguments: args}})
	}
	return am, nil
}
