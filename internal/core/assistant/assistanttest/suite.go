package assistanttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// RunStore runs the contract of assistant.Store against the stores
// newStore makes: each case gets a fresh, empty store. Every
// implementation (the Postgres store, MemoryStore) must pass it.
func RunStore(t *testing.T, newStore func(t *testing.T) assistant.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"a conversation and its messages round-trip", testRoundTrip},
		{"another owner's conversation is not found by any method", testOwners},
		{"recent returns the last messages, oldest first", testRecent},
		{"retract takes back the last message only, and an emptied conversation", testRetract},
		{"list pages newest first and reaches every conversation", testList},
		{"a forged page token is refused as invalid", testForgedToken},
		{"delete removes the conversation and its messages", testDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &suite{t: t, store: newStore(t), ctx: context.Background(),
				clock: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC), owner: "reader-" + coreid.New()})
		})
	}
}

type suite struct {
	t     *testing.T
	store assistant.Store
	ctx   context.Context
	clock time.Time
	owner string
}

// now returns a growing instant, whole microseconds (what stores keep).
func (s *suite) now() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

func (s *suite) record(role, text string) assistant.Record {
	return assistant.Record{ID: coreid.New(), Message: assistant.Message{Role: role, Content: text}, CreatedAt: s.now()}
}

func (s *suite) create(owner, first string) assistant.Conversation {
	s.t.Helper()
	at := s.now()
	c := assistant.Conversation{ID: coreid.New(), Owner: owner, Title: first, CreatedAt: at, UpdatedAt: at}
	if err := s.store.Create(s.ctx, c, []assistant.Record{s.record(assistant.RoleUser, first)}); err != nil {
		s.t.Fatalf("Create: %v", err)
	}
	c.Messages = 1
	return c
}

func (s *suite) messages(owner, id string) []assistant.Record {
	s.t.Helper()
	got, err := s.store.Messages(s.ctx, owner, id)
	if err != nil {
		s.t.Fatalf("Messages: %v", err)
	}
	return got
}

func sameRecord(a, b assistant.Record) bool {
	if a.ID != b.ID || a.Role != b.Role || a.Content != b.Content || a.ToolName != b.ToolName ||
		!a.CreatedAt.Equal(b.CreatedAt) || a.Interrupted != b.Interrupted || len(a.ToolCalls) != len(b.ToolCalls) {
		return false
	}
	for i := range a.ToolCalls {
		if a.ToolCalls[i].Name != b.ToolCalls[i].Name || !sameJSON(a.ToolCalls[i].Arguments, b.ToolCalls[i].Arguments) {
			return false
		}
	}
	return true
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

func (s *suite) sameRecords(got, want []assistant.Record) {
	s.t.Helper()
	if len(got) != len(want) {
		s.t.Fatalf("%d messages, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if !sameRecord(got[i], want[i]) {
			s.t.Fatalf("message %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testRoundTrip(t *testing.T, s *suite) {
	at := s.now()
	c := assistant.Conversation{ID: coreid.New(), Owner: s.owner, Title: "Books about lighthouses?", CreatedAt: at, UpdatedAt: at}
	user := s.record(assistant.RoleUser, "Books about lighthouses? ünïcode ✓")
	if err := s.store.Create(s.ctx, c, []assistant.Record{user}); err != nil {
		t.Fatal(err)
	}
	call := s.record(assistant.RoleAssistant, "Let me look.")
	call.ToolCalls = []assistant.ToolCall{{Name: "search_catalog", Arguments: json.RawMessage(`{"query":"lighthouse","page_size":3}`)}}
	result := s.record(assistant.RoleTool, `{"books":[{"title":"A History of the Lighthouse"}]}`)
	result.ToolName = "search_catalog"
	answer := s.record(assistant.RoleAssistant, "Try A History of the Lighthouse.")
	cut := s.record(assistant.RoleAssistant, "And also")
	cut.Interrupted = true
	end := s.now()
	if err := s.store.Append(s.ctx, s.owner, c.ID, []assistant.Record{call, result, answer, cut}, end); err != nil {
		t.Fatal(err)
	}
	got, err := s.store.Get(s.ctx, s.owner, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The user's message and two answers count; the tool call and its
	// result do not.
	if got.ID != c.ID || got.Owner != s.owner || got.Title != c.Title || !got.CreatedAt.Equal(at) || !got.UpdatedAt.Equal(end) || got.Messages != 3 {
		t.Fatalf("Get = %+v", got)
	}
	s.sameRecords(s.messages(s.owner, c.ID), []assistant.Record{user, call, result, answer, cut})
	if err := s.store.Create(s.ctx, c, nil); err == nil {
		t.Fatal("a second Create with the same id succeeded")
	}
}

func testOwners(t *testing.T, s *suite) {
	mine := s.create(s.owner, "mine")
	other := "intruder-" + coreid.New()
	checks := map[string]error{}
	_, checks["Get"] = s.store.Get(s.ctx, other, mine.ID)
	_, checks["Messages"] = s.store.Messages(s.ctx, other, mine.ID)
	_, checks["Recent"] = s.store.Recent(s.ctx, other, mine.ID, 10)
	checks["Append"] = s.store.Append(s.ctx, other, mine.ID, []assistant.Record{s.record(assistant.RoleUser, "x")}, s.now())
	checks["Delete"] = s.store.Delete(s.ctx, other, mine.ID)
	for name, err := range checks {
		if !errors.Is(err, failure.ErrNotFound) {
			t.Errorf("%s by another owner: %v, want not found", name, err)
		}
	}
	_ = s.store.Retract(s.ctx, other, mine.ID, "")
	page, err := s.store.List(s.ctx, other, 10, "")
	if err != nil || len(page.Conversations) != 0 {
		t.Errorf("List of another owner: %+v, %v", page, err)
	}
	if got := s.messages(s.owner, mine.ID); len(got) != 1 || got[0].Content != "mine" {
		t.Errorf("the owner's messages changed: %+v", got)
	}
	_, err = s.store.Get(s.ctx, s.owner, coreid.New())
	if !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("Get of a missing conversation: %v", err)
	}
}

func testRecent(t *testing.T, s *suite) {
	c := s.create(s.owner, "m0")
	var all []assistant.Record
	all = append(all, s.messages(s.owner, c.ID)...)
	for i := 1; i < 7; i++ {
		r := s.record(assistant.RoleUser, fmt.Sprintf("m%d", i))
		if err := s.store.Append(s.ctx, s.owner, c.ID, []assistant.Record{r}, s.now()); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	got, err := s.store.Recent(s.ctx, s.owner, c.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	s.sameRecords(got, all[4:])
	got, err = s.store.Recent(s.ctx, s.owner, c.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	s.sameRecords(got, all)
}

func testRetract(t *testing.T, s *suite) {
	c := s.create(s.owner, "first")
	answer := s.record(assistant.RoleAssistant, "an answer")
	second := s.record(assistant.RoleUser, "second")
	if err := s.store.Append(s.ctx, s.owner, c.ID, []assistant.Record{answer, second}, s.now()); err != nil {
		t.Fatal(err)
	}
	// Not the last message: left alone.
	if err := s.store.Retract(s.ctx, s.owner, c.ID, answer.ID); err != nil {
		t.Fatal(err)
	}
	if got := s.messages(s.owner, c.ID); len(got) != 3 {
		t.Fatalf("retracting a message that is not the last removed something: %+v", got)
	}
	if err := s.store.Retract(s.ctx, s.owner, c.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	got := s.messages(s.owner, c.ID)
	if len(got) != 2 || got[1].ID != answer.ID {
		t.Fatalf("after retracting the last message: %+v", got)
	}
	if g, err := s.store.Get(s.ctx, s.owner, c.ID); err != nil || g.Messages != 2 {
		t.Fatalf("count after retract: %+v, %v", g, err)
	}
	// A conversation whose only message is retracted is gone.
	lone := s.create(s.owner, "lone")
	first := s.messages(s.owner, lone.ID)[0]
	if err := s.store.Retract(s.ctx, s.owner, lone.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Get(s.ctx, s.owner, lone.ID); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("an emptied conversation is still there: %v", err)
	}
	if err := s.store.Retract(s.ctx, s.owner, lone.ID, first.ID); err != nil {
		t.Fatalf("retracting in a missing conversation: %v", err)
	}
}

func testList(t *testing.T, s *suite) {
	var want []string
	for i := range 7 {
		c := s.create(s.owner, fmt.Sprintf("c%d", i))
		want = append([]string{c.ID}, want...) // newest first
	}
	// Two conversations started at the same instant are ordered by id.
	at := s.now()
	twins := []string{coreid.New(), coreid.New()}
	for _, id := range twins {
		c := assistant.Conversation{ID: id, Owner: s.owner, Title: "twin", CreatedAt: at, UpdatedAt: at}
		if err := s.store.Create(s.ctx, c, []assistant.Record{s.record(assistant.RoleUser, "twin")}); err != nil {
			t.Fatal(err)
		}
	}
	if twins[0] < twins[1] {
		twins[0], twins[1] = twins[1], twins[0]
	}
	want = append(twins, want...)
	s.create("someone-else-"+coreid.New(), "not mine")
	var got []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the pages never end")
		}
		page, err := s.store.List(s.ctx, s.owner, 3, tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Conversations) > 3 {
			t.Fatalf("a page of %d conversations, asked for 3", len(page.Conversations))
		}
		for _, c := range page.Conversations {
			if c.Owner != s.owner {
				t.Fatalf("listed another owner's conversation %+v", c)
			}
			got = append(got, c.ID)
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
		// A conversation started meanwhile does not disturb the pages.
		if pages == 0 {
			s.create(s.owner, "late")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v\nwant    %v", got, want)
	}
}

func testForgedToken(t *testing.T, s *suite) {
	s.create(s.owner, "one")
	for _, tok := range []string{"!!", "bm90IGpzb24", "e30"} {
		_, err := s.store.List(s.ctx, s.owner, 10, tok)
		var ve *failure.ValidationError
		if !errors.As(err, &ve) || ve.Violations[0].Field != "page_token" {
			t.Errorf("token %q: %v, want an invalid page_token", tok, err)
		}
	}
}

func testDelete(t *testing.T, s *suite) {
	c := s.create(s.owner, "bye")
	keep := s.create(s.owner, "keep")
	if err := s.store.Delete(s.ctx, s.owner, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Get(s.ctx, s.owner, c.ID); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if _, err := s.store.Messages(s.ctx, s.owner, c.ID); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("Messages after Delete: %v", err)
	}
	if err := s.store.Delete(s.ctx, s.owner, c.ID); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if err := s.store.Append(s.ctx, s.owner, c.ID, []assistant.Record{s.record(assistant.RoleAssistant, "late")}, s.now()); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("Append after Delete: %v", err)
	}
	if got := s.messages(s.owner, keep.ID); len(got) != 1 {
		t.Fatalf("the other conversation lost messages: %+v", got)
	}
}
