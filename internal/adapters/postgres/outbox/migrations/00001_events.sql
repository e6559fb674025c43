-- The schema events: the event backbone's two tables, shared by every
-- context. The transactional outbox, which every context writes its events
-- to in the transaction of the change they announce, and the inbox, in which
-- every consumer records the events it has applied in the transaction of
-- their effects. The runner creates the schema; this migration creates its
-- tables, or moves them from public in a database made before the contexts
-- had schemas of their own (with their rows, indexes and identity sequence),
-- so that an upgraded database ends exactly as a fresh one.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('public.outbox') IS NOT NULL AND to_regclass('events.outbox') IS NULL THEN
        ALTER TABLE public.outbox SET SCHEMA events;
    END IF;
    IF to_regclass('public.inbox') IS NOT NULL AND to_regclass('events.inbox') IS NULL THEN
        ALTER TABLE public.inbox SET SCHEMA events;
    END IF;
END $$;
-- +goose StatementEnd

-- One row per event, in its CloudEvents envelope. The relay publishes rows
-- whose published_at is NULL and then sets it; published rows are pruned
-- after a retention period.
CREATE TABLE IF NOT EXISTS events.outbox (
    -- Insertion order: the relay publishes oldest first (a best effort,
    -- events carry no ordering guarantee).
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- ce-id, a UUIDv7.
    event_id     uuid NOT NULL,
    -- ce-type, the full name of the protobuf message, and the routing key.
    type         text NOT NULL CHECK (type <> '' AND length(type) <= 255),
    -- ce-source, for example /bookworm/catalog.
    source       text NOT NULL CHECK (source <> ''),
    -- ce-time: when the event happened.
    occur_time   timestamptz NOT NULL,
    -- W3C trace context of the producing span, or empty.
    traceparent  text NOT NULL DEFAULT '',
    tracestate   text NOT NULL DEFAULT '',
    content_type text NOT NULL DEFAULT 'application/protobuf',
    data         bytea NOT NULL,
    -- Set, in the relay's claiming transaction, once the broker confirmed
    -- the event.
    published_at timestamptz
);
-- The relay's queue: small, because rows leave it as soon as they are
-- published.
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON events.outbox (seq) WHERE published_at IS NULL;
-- Pruning.
CREATE INDEX IF NOT EXISTS outbox_published_idx ON events.outbox (published_at) WHERE published_at IS NOT NULL;

-- One row per (consumer, event) applied. A consumer inserts it with
-- ON CONFLICT DO NOTHING in the transaction of the event's effects: when
-- nothing was inserted the event was applied before and is dropped.
CREATE TABLE IF NOT EXISTS events.inbox (
    consumer   text NOT NULL,
    event_id   text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
-- Pruning.
CREATE INDEX IF NOT EXISTS inbox_handled_at_idx ON events.inbox (handled_at);

-- +goose Down
DROP TABLE events.inbox;
DROP TABLE events.outbox;
