// Package assistanttest holds what the tests of the assistant context
// share: the contract suite of assistant.Store (RunStore), which every
// store must pass, and MemoryStore, a store in memory for the core's unit
// tests.
package assistanttest

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// MemoryStore is assistant.Store in memory. It is safe for concurrent use.
type MemoryStore struct {
	mu            sync.Mutex
	conversations map[string]*memConversation
}

type memConversation struct {
	c    assistant.Conversation
	msgs []assistant.Record
}

var _ assistant.Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{conversations: map[string]*memConversation{}}
}

func (m *MemoryStore) find(owner, id string) (*memConversation, error) {
	c, ok := m.conversations[id]
	if !ok || c.c.Owner != owner {
		return nil, failure.NotFound("conversation %s not found", id)
	}
	return c, nil
}

func counted(rs []assistant.Record) int {
	n := 0
	for _, r := range rs {
		if r.Counted() {
			n++
		}
	}
	return n
}

// Create implements assistant.Store.
func (m *MemoryStore) Create(_ context.Context, c assistant.Conversation, first []assistant.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.conversations[c.ID]; ok {
		return failure.AlreadyExists("conversation %s exists", c.ID)
	}
	c.Messages = counted(first)
	m.conversations[c.ID] = &memConversation{c: c, msgs: slices.Clone(first)}
	return nil
}

// Get implements assistant.Store.
func (m *MemoryStore) Get(_ context.Context, owner, id string) (assistant.Conversation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.find(owner, id)
	if err != nil {
		return assistant.Conversation{}, err
	}
	return c.c, nil
}

// Append implements assistant.Store.
func (m *MemoryStore) Append(_ context.Context, owner, id string, msgs []assistant.Record, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.find(owner, id)
	if err != nil {
		return err
	}
	c.msgs = append(c.msgs, msgs...)
	c.c.Messages += counted(msgs)
	c.c.UpdatedAt = at
	return nil
}

// Retract implements assistant.Store.
func (m *MemoryStore) Retract(_ context.Context, owner, id, messageID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.find(owner, id)
	if err != nil || len(c.msgs) == 0 || c.msgs[len(c.msgs)-1].ID != messageID {
		return nil
	}
	last := c.msgs[len(c.msgs)-1]
	c.msgs = c.msgs[:len(c.msgs)-1]
	if last.Counted() {
		c.c.Messages--
	}
	if len(c.msgs) == 0 {
		delete(m.conversations, id)
	}
	return nil
}

// Recent implements assistant.Store.
func (m *MemoryStore) Recent(_ context.Context, owner, id string, limit int) ([]assistant.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.find(owner, id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.msgs[max(0, len(c.msgs)-limit):]), nil
}

// Messages implements assistant.Store.
func (m *MemoryStore) Messages(_ context.Context, owner, id string) ([]assistant.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.find(owner, id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.msgs), nil
}

type memCursor struct {
	T  int64  `json:"t"`
	ID string `json:"i"`
}

// newer orders conversations newest first: creation time, then id.
func newer(a, b assistant.Conversation) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// List implements assistant.Store.
func (m *MemoryStore) List(_ context.Context, owner string, pageSize int, pageToken string) (assistant.ConversationPage, error) {
	var after *assistant.Conversation
	if pageToken != "" {
		var cur memCursor
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || json.Unmarshal(b, &cur) != nil || cur.ID == "" {
			return assistant.ConversationPage{}, failure.Invalid("page_token", "is not a page token of this query")
		}
		after = &assistant.Conversation{ID: cur.ID, CreatedAt: time.UnixMicro(cur.T).UTC()}
	}
	m.mu.Lock()
	var all []assistant.Conversation
	for _, c := range m.conversations {
		if c.c.Owner == owner && (after == nil || newer(*after, c.c) < 0) {
			all = append(all, c.c)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(all, newer)
	var page assistant.ConversationPage
	if len(all) > pageSize {
		all = all[:pageSize]
		last := all[len(all)-1]
		b, _ := json.Marshal(memCursor{T: last.CreatedAt.UnixMicro(), ID: last.ID})
		page.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
	}
	page.Conversations = all
	return page, nil
}

// Delete implements assistant.Store.
func (m *MemoryStore) Delete(_ context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.find(owner, id); err != nil {
		return err
	}
	delete(m.conversations, id)
	return nil
}
