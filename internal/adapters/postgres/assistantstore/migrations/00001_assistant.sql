-- The schema assistant: each user's conversations with the shopping
-- assistant and their messages. The owner is the token's subject; nothing
-- here refers to another context's tables.

-- +goose Up
CREATE TABLE assistant.conversations (
    id            uuid PRIMARY KEY,
    owner         text NOT NULL CHECK (owner <> ''),
    title         text NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    -- The user's messages and the assistant's answers (tool calls and
    -- results not counted): the core's length limit reads it.
    message_count integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    -- The seq of the last message written; the next one takes last_seq + 1
    -- under the row lock of the conversation.
    last_seq      integer NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

-- ListConversations: an owner's conversations, newest first (keyset).
CREATE INDEX conversations_owner_create_idx ON assistant.conversations (owner, create_time DESC, id DESC);

CREATE TABLE assistant.messages (
    conversation_id uuid NOT NULL REFERENCES assistant.conversations (id) ON DELETE CASCADE,
    seq             integer NOT NULL CHECK (seq >= 1),
    id              uuid NOT NULL,
    role            text NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         text NOT NULL,
    -- The tool calls an assistant message asks for: names and their JSON
    -- arguments as the model wrote them, side by side.
    tool_names      text[] NOT NULL DEFAULT '{}',
    tool_arguments  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tool_arguments) = cardinality(tool_names)),
    -- The tool whose result a tool message carries.
    tool_name       text NOT NULL DEFAULT '',
    -- An answer cut before the model finished it.
    interrupted     boolean NOT NULL DEFAULT false,
    create_time     timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    CONSTRAINT messages_id_key UNIQUE (id)
);

-- +goose Down
DROP TABLE assistant.messages;
DROP TABLE assistant.conversations;
