package assistantstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// Conversations is assistant.Store on PostgreSQL. Every query names the
// owner beside the conversation's id, so another user's conversation is
// not found, exactly as a missing one. Messages are numbered per
// conversation (seq) under the conversation's row lock, so concurrent
// turns of one conversation interleave without a gap or a duplicate.
type Conversations struct {
	db postgres.DB
}

var _ assistant.Store = (*Conversations)(nil)

// NewConversations returns the conversation store of db.
func NewConversations(db postgres.DB) *Conversations { return &Conversations{db: db} }

var errTable = postgres.ErrorTable{Store: "assistant"}

func translate(ctx context.Context, err error, id string) error {
	return errTable.Translate(ctx, err, "conversation "+id)
}

// Create implements assistant.Store.
func (s *Conversations) Create(ctx context.Context, c assistant.Conversation, first []assistant.Record) error {
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO assistant.conversations (id, owner, title, create_time, update_time)
			VALUES ($1, $2, $3, $4, $5)`, c.ID, c.Owner, c.Title, c.CreatedAt, c.UpdatedAt); err != nil {
			return err
		}
		return insert(ctx, tx, c.ID, 0, first, c.UpdatedAt)
	})
	return translate(ctx, err, c.ID)
}

// insert writes msgs after seq last and moves the conversation's counters
// and update time.
func insert(ctx context.Context, tx pgx.Tx, id string, last int, msgs []assistant.Record, at time.Time) error {
	if len(msgs) == 0 {
		return nil
	}
	n := len(msgs)
	var (
		ids, roles, contents, toolNames []string
		names, args                     []string // each message's tool calls, as JSON arrays
		interrupted                     = make([]bool, n)
		created                         = make([]time.Time, n)
		counted                         int
	)
	for i, m := range msgs {
		ids = append(ids, m.ID)
		roles = append(roles, m.Role)
		contents = append(contents, m.Content)
		toolNames = append(toolNames, m.ToolName)
		var ns, as []string
		for _, c := range m.ToolCalls {
			ns = append(ns, c.Name)
			as = append(as, string(c.Arguments))
		}
		nb, _ := json.Marshal(orEmpty(ns))
		ab, _ := json.Marshal(orEmpty(as))
		names, args = append(names, string(nb)), append(args, string(ab))
		interrupted[i], created[i] = m.Interrupted, m.CreatedAt
		if m.Counted() {
			counted++
		}
	}
	// Arrays of arrays must be rectangular in Postgres: each message's tool
	// calls travel as a JSON array and become text[] here.
	_, err := tx.Exec(ctx, `INSERT INTO assistant.messages (conversation_id, seq, id, role, content, tool_names,
			tool_arguments, tool_name, interrupted, create_time)
		SELECT $1, $2 + m.ord, m.id, m.role, m.content,
			ARRAY(SELECT jsonb_array_elements_text(m.names::jsonb)), ARRAY(SELECT jsonb_array_elements_text(m.args::jsonb)),
			m.tool_name, m.interrupted, m.create_time
		FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::timestamptz[])
			WITH ORDINALITY AS m (id, role, content, names, args, tool_name, interrupted, create_time, ord)`,
		id, last, ids, roles, contents, names, args, toolNames, interrupted, created)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE assistant.conversations SET last_seq = $2, message_count = message_count + $3,
		update_time = GREATEST(update_time, $4) WHERE id = $1`, id, last+n, counted, at)
	return err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lock locks owner's conversation id for a write and returns its last
// seq; pgx.ErrNoRows when it is not there.
func lock(ctx context.Context, tx pgx.Tx, owner, id string) (int, error) {
	var last int
	err := tx.QueryRow(ctx, `SELECT last_seq FROM assistant.conversations WHERE id = $1 AND owner = $2 FOR UPDATE`,
		id, owner).Scan(&last)
	return last, err
}

// Get implements assistant.Store.
func (s *Conversations) Get(ctx context.Context, owner, id string) (assistant.Conversation, error) {
	if !coreid.Valid(id) {
		return assistant.Conversation{}, translate(ctx, pgx.ErrNoRows, id)
	}
	c := assistant.Conversation{ID: id, Owner: owner}
	err := s.db.QueryRow(ctx, `SELECT title, create_time, update_time, message_count FROM assistant.conversations
		WHERE id = $1 AND owner = $2`, id, owner).Scan(&c.Title, &c.CreatedAt, &c.UpdatedAt, &c.Messages)
	if err != nil {
		return assistant.Conversation{}, translate(ctx, err, id)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// Append implements assistant.Store.
func (s *Conversations) Append(ctx context.Context, owner, id string, msgs []assistant.Record, at time.Time) error {
	if !coreid.Valid(id) {
		return translate(ctx, pgx.ErrNoRows, id)
	}
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		last, err := lock(ctx, tx, owner, id)
		if err != nil {
			return err
		}
		return insert(ctx, tx, id, last, msgs, at)
	})
	return translate(ctx, err, id)
}

// Retract implements assistant.Store.
func (s *Conversations) Retract(ctx context.Context, owner, id, messageID string) error {
	if !coreid.Valid(id) || !coreid.Valid(messageID) {
		return nil
	}
	err := postgres.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := lock(ctx, tx, owner, id); err != nil {
			return err
		}
		var counted int
		err := tx.QueryRow(ctx, `DELETE FROM assistant.messages m WHERE m.conversation_id = $1 AND m.id = $2
			AND m.seq = (SELECT max(seq) FROM assistant.messages WHERE conversation_id = $1)
			RETURNING CASE WHEN m.role = 'user' OR (m.role = 'assistant' AND cardinality(m.tool_names) = 0) THEN 1 ELSE 0 END`,
			id, messageID).Scan(&counted)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE assistant.conversations SET message_count = message_count - $2 WHERE id = $1`,
			id, counted); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM assistant.conversations WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM assistant.messages WHERE conversation_id = $1)`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // nothing to take back
	}
	return translate(ctx, err, id)
}

// messageColumns are the columns scanRecords reads.
const messageColumns = `m.id::text, m.role, m.content, m.tool_names, m.tool_arguments, m.tool_name, m.interrupted, m.create_time`

func scanRecords(rows pgx.Rows) ([]assistant.Record, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (assistant.Record, error) {
		var r assistant.Record
		var names, args []string
		err := row.Scan(&r.ID, &r.Role, &r.Content, &names, &args, &r.ToolName, &r.Interrupted, &r.CreatedAt)
		for i := range names {
			r.ToolCalls = append(r.ToolCalls, assistant.ToolCall{Name: names[i], Arguments: json.RawMessage(args[i])})
		}
		r.CreatedAt = r.CreatedAt.UTC()
		return r, err
	})
}

// exists reports pgx.ErrNoRows when owner has no conversation id.
func (s *Conversations) exists(ctx context.Context, owner, id string) error {
	if !coreid.Valid(id) {
		return pgx.ErrNoRows
	}
	var one int
	return s.db.QueryRow(ctx, `SELECT 1 FROM assistant.conversations WHERE id = $1 AND owner = $2`, id, owner).Scan(&one)
}

// Recent implements assistant.Store.
func (s *Conversations) Recent(ctx context.Context, owner, id string, limit int) ([]assistant.Record, error) {
	if err := s.exists(ctx, owner, id); err != nil {
		return nil, translate(ctx, err, id)
	}
	rows, err := s.db.Query(ctx, `SELECT `+messageColumns+` FROM assistant.messages m
		WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, translate(ctx, err, id)
	}
	out, err := scanRecords(rows)
	if err != nil {
		return nil, translate(ctx, err, id)
	}
	slices.Reverse(out)
	return out, nil
}

// Messages implements assistant.Store.
func (s *Conversations) Messages(ctx context.Context, owner, id string) ([]assistant.Record, error) {
	if err := s.exists(ctx, owner, id); err != nil {
		return nil, translate(ctx, err, id)
	}
	rows, err := s.db.Query(ctx, `SELECT `+messageColumns+` FROM assistant.messages m
		WHERE m.conversation_id = $1 ORDER BY m.seq`, id)
	if err != nil {
		return nil, translate(ctx, err, id)
	}
	out, err := scanRecords(rows)
	return out, translate(ctx, err, id)
}

// conversationCursor is the keyset position of a page of conversations.
type conversationCursor struct {
	Query uint64 `json:"q"`
	Time  int64  `json:"t"`
	ID    string `json:"i"`
}

// listQuery is the fingerprint page tokens of List carry.
var listQuery = postgres.NewFingerprint("conversations").Sum()

// List implements assistant.Store: newest first by creation time, then id.
func (s *Conversations) List(ctx context.Context, owner string, pageSize int, pageToken string) (assistant.ConversationPage, error) {
	var args postgres.Args
	where := `owner = ` + args.Add(owner)
	if pageToken != "" {
		var c conversationCursor
		if err := postgres.DecodeToken(pageToken, &c); err != nil {
			return assistant.ConversationPage{}, err
		}
		if c.Query != listQuery || !coreid.Valid(c.ID) || c.Time > postgres.MaxTokenKey || c.Time < -postgres.MaxTokenKey {
			return assistant.ConversationPage{}, postgres.ErrPageToken
		}
		where += ` AND (create_time, id) < (` + args.Add(time.UnixMicro(c.Time).UTC()) + `, ` + args.Add(c.ID) + `::uuid)`
	}
	rows, err := s.db.Query(ctx, `SELECT id::text, title, create_time, update_time, message_count FROM assistant.conversations
		WHERE `+where+` ORDER BY create_time DESC, id DESC LIMIT `+args.Add(pageSize+1), args...)
	if err != nil {
		return assistant.ConversationPage{}, translate(ctx, err, "list")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (assistant.Conversation, error) {
		c := assistant.Conversation{Owner: owner}
		err := row.Scan(&c.ID, &c.Title, &c.CreatedAt, &c.UpdatedAt, &c.Messages)
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		return c, err
	})
	if err != nil {
		return assistant.ConversationPage{}, translate(ctx, err, "list")
	}
	var page assistant.ConversationPage
	if len(list) > pageSize {
		list = list[:pageSize]
		last := list[len(list)-1]
		page.NextPageToken = postgres.EncodeToken(conversationCursor{Query: listQuery, Time: last.CreatedAt.UnixMicro(), ID: last.ID})
	}
	page.Conversations = list
	return page, nil
}

// Delete implements assistant.Store.
func (s *Conversations) Delete(ctx context.Context, owner, id string) error {
	if !coreid.Valid(id) {
		return translate(ctx, pgx.ErrNoRows, id)
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM assistant.conversations WHERE id = $1 AND owner = $2`, id, owner)
	if err != nil {
		return translate(ctx, err, id)
	}
	if tag.RowsAffected() == 0 {
		return translate(ctx, pgx.ErrNoRows, id)
	}
	return nil
}
