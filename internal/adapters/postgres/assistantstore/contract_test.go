package assistantstore

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/assistant/assistanttest"
)

// TestConversationStoreContract runs the port's contract on the Postgres
// store, as a role granted only the schema assistant: passing it also
// shows that the store touches no other context's tables.
func TestConversationStoreContract(t *testing.T) {
	assistanttest.RunStore(t, func(t *testing.T) assistant.Store {
		return NewConversations(pgtest.RolePool(t, pgtest.NewDatabase(t), "assistant"))
	})
}

// TestPageTokens: every token either is one of the list's or is refused
// as an invalid page_token, never another error.
func TestPageTokens(t *testing.T) {
	s := NewConversations(pgtest.NewPool(t))
	for _, tok := range []string{"", "x", pgtest.RawToken(`{}`), pgtest.RawToken(`{"q":1,"t":1,"i":"nope"}`),
		pgtest.RawToken(`{"t":99999999999999999999,"i":"0191f7a4-8a3b-7c9e-9d2e-123456789abc"}`)} {
		_, err := s.List(pgtest.Ctx(t), "someone", 10, tok)
		pgtest.CheckTokenRefusal(t, tok, false, err)
	}
}
