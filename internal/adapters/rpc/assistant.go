package rpc

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	assistantv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/assistant/v1/assistantv1connect"
)

// AssistantHandler serves bookworm.assistant.v1.AssistantService over the
// assistant's use cases. No request names a user: the use cases take the
// caller from the context, so a caller reaches their own conversations only.
type AssistantHandler struct {
	svc *assistant.Service
}

var _ assistantv1connect.AssistantServiceHandler = (*AssistantHandler)(nil)

// NewAssistantHandler returns the Connect handler of the assistant service.
func NewAssistantHandler(svc *assistant.Service) *AssistantHandler {
	return &AssistantHandler{svc: svc}
}

// AssistantService is the assistant service for Options.Services.
func AssistantService(svc *assistant.Service) Service {
	return NewService[assistantv1connect.AssistantServiceHandler](assistantv1connect.AssistantServiceName,
		assistantv1connect.NewAssistantServiceHandler, NewAssistantHandler(svc))
}

var finishReasons = map[assistant.Finish]assistantv1.FinishReason{
	assistant.FinishStop:          assistantv1.FinishReason_FINISH_REASON_STOP,
	assistant.FinishToolCallLimit: assistantv1.FinishReason_FINISH_REASON_TOOL_CALL_LIMIT,
	assistant.FinishTimeLimit:     assistantv1.FinishReason_FINISH_REASON_TIME_LIMIT,
}

var toolPhases = map[assistant.EventKind]assistantv1.ToolPhase{
	assistant.EventToolStarted:  assistantv1.ToolPhase_TOOL_PHASE_STARTED,
	assistant.EventToolFinished: assistantv1.ToolPhase_TOOL_PHASE_FINISHED,
	assistant.EventToolFailed:   assistantv1.ToolPhase_TOOL_PHASE_FAILED,
}

func chatEventToProto(e assistant.Event) *assistantv1.ChatResponse {
	switch e.Kind {
	case assistant.EventStarted:
		return &assistantv1.ChatResponse{Event: &assistantv1.ChatResponse_Started{
			Started: &assistantv1.ChatStarted{ConversationId: e.ConversationID}}}
	case assistant.EventText:
		return &assistantv1.ChatResponse{Event: &assistantv1.ChatResponse_Text{Text: &assistantv1.TextDelta{Text: e.Text}}}
	case assistant.EventCompleted:
		c := e.Completion
		return &assistantv1.ChatResponse{Event: &assistantv1.ChatResponse_Completed{Completed: &assistantv1.ChatCompleted{
			ConversationId: e.ConversationID, PromptTokens: int64(c.PromptTokens), AnswerTokens: int64(c.AnswerTokens),
			FinishReason: finishReasons[c.Finish], ToolCalls: int32(c.ToolCalls)}}}
	}
	return &assistantv1.ChatResponse{Event: &assistantv1.ChatResponse_Tool{Tool: &assistantv1.ToolActivity{
		Tool: e.Tool, Phase: toolPhases[e.Kind]}}}
}

// Chat implements assistantv1connect.AssistantServiceHandler. The stream
// lives as long as the turn: the core bounds it with its turn deadline, and
// a client that goes away cancels ctx, which stops the model.
func (h *AssistantHandler) Chat(ctx context.Context, req *connect.Request[assistantv1.ChatRequest], stream *connect.ServerStream[assistantv1.ChatResponse]) error {
	return h.svc.Chat(ctx, assistant.ChatInput{ConversationID: req.Msg.GetConversationId(), Message: req.Msg.GetMessage()},
		func(e assistant.Event) error { return stream.Send(chatEventToProto(e)) })
}

func conversationToProto(c assistant.Conversation) *assistantv1.Conversation {
	return &assistantv1.Conversation{Id: c.ID, Title: c.Title, CreateTime: timestamppb.New(c.CreatedAt),
		UpdateTime: timestamppb.New(c.UpdatedAt), MessageCount: int32(c.Messages)}
}

// ListConversations implements assistantv1connect.AssistantServiceHandler.
func (h *AssistantHandler) ListConversations(ctx context.Context, req *connect.Request[assistantv1.ListConversationsRequest]) (*connect.Response[assistantv1.ListConversationsResponse], error) {
	page, err := h.svc.ListConversations(ctx, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &assistantv1.ListConversationsResponse{NextPageToken: page.NextPageToken}
	for _, c := range page.Conversations {
		out.Conversations = append(out.Conversations, conversationToProto(c))
	}
	return connect.NewResponse(out), nil
}

// GetConversation implements assistantv1connect.AssistantServiceHandler.
func (h *AssistantHandler) GetConversation(ctx context.Context, req *connect.Request[assistantv1.GetConversationRequest]) (*connect.Response[assistantv1.GetConversationResponse], error) {
	c, msgs, err := h.svc.GetConversation(ctx, req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	out := &assistantv1.GetConversationResponse{Conversation: conversationToProto(c)}
	for _, m := range msgs {
		pm := &assistantv1.Message{Role: assistantv1.Role_ROLE_USER, Text: m.Content, CreateTime: timestamppb.New(m.CreatedAt),
			Interrupted: m.Interrupted}
		if m.Role == assistant.RoleAssistant {
			pm.Role = assistantv1.Role_ROLE_ASSISTANT
		}
		for _, tc := range m.ToolCalls {
			pm.Tools = append(pm.Tools, tc.Name)
		}
		out.Messages = append(out.Messages, pm)
	}
	return connect.NewResponse(out), nil
}

// DeleteConversation implements assistantv1connect.AssistantServiceHandler.
func (h *AssistantHandler) DeleteConversation(ctx context.Context, req *connect.Request[assistantv1.DeleteConversationRequest]) (*connect.Response[assistantv1.DeleteConversationResponse], error) {
	if err := h.svc.DeleteConversation(ctx, req.Msg.GetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&assistantv1.DeleteConversationResponse{}), nil
}
