-- The schema ordering: orders and their append-only history (the audit
-- trail of every transition).
--
-- An order's fields that queries select on are columns; the rest of the
-- aggregate (lines, address, payment state, compensation) is one jsonb
-- document written and read whole by the store, since no query looks
-- inside it.

-- +goose Up
CREATE TABLE IF NOT EXISTS ordering.orders (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL,
    -- The PlaceOrder request id: one order per buyer and request id, so that
    -- two racing PlaceOrders with one id end with one order.
    request_id  text NOT NULL,
    -- ordering.Status: 1 PENDING .. 8 CANCELLED.
    status      smallint NOT NULL CHECK (status BETWEEN 1 AND 8),
    version     bigint NOT NULL CHECK (version >= 1),
    -- One more with every write, transitions or not (a retry's attempt
    -- count, a compensation's outcome): the optimistic concurrency check.
    revision    bigint NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    -- When the sweeper must look at the order next; NULL when nothing waits.
    deadline    timestamptz,
    data        jsonb NOT NULL,
    CONSTRAINT orders_request_key UNIQUE (user_id, request_id)
);

-- Keyset pages, newest first: a buyer's orders, and everybody's.
CREATE INDEX IF NOT EXISTS orders_user_created_idx ON ordering.orders (user_id, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS orders_created_idx ON ordering.orders (create_time DESC, id DESC);
-- The sweeper's due orders.
CREATE INDEX IF NOT EXISTS orders_deadline_idx ON ordering.orders (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE IF NOT EXISTS ordering.history (
    order_id    uuid NOT NULL REFERENCES ordering.orders (id),
    version     bigint NOT NULL,
    occur_time  timestamptz NOT NULL,
    -- ordering.ActorKind: 1 customer, 2 admin, 3 system.
    actor_kind  smallint NOT NULL,
    actor_id    text NOT NULL DEFAULT '',
    from_status smallint NOT NULL,
    to_status   smallint NOT NULL,
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, version)
);

-- The history is an audit trail: rows are inserted, never changed nor
-- removed, whoever asks (grants alone would not stop the schema's owner).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ordering.history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ordering.history is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS history_append_only ON ordering.history;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON ordering.history
    FOR EACH ROW EXECUTE FUNCTION ordering.history_append_only();
DROP TRIGGER IF EXISTS history_no_truncate ON ordering.history;
CREATE TRIGGER history_no_truncate BEFORE TRUNCATE ON ordering.history
    FOR EACH STATEMENT EXECUTE FUNCTION ordering.history_append_only();

-- +goose Down
DROP TABLE IF EXISTS ordering.history;
DROP FUNCTION IF EXISTS ordering.history_append_only();
DROP TABLE IF EXISTS ordering.orders;
