package assistanttest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/assistant/assistanttest"
)

func TestMemoryStore(t *testing.T) {
	assistanttest.RunStore(t, func(*testing.T) assistant.Store { return assistanttest.NewMemoryStore() })
}
