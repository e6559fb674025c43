-- The schema notification: what the notification context remembers of
-- orders (the buyer to write to, the newest version mailed about) and its
-- email outbox. The context does not own orders: order_id refers to the
-- ordering context's orders by id only (no foreign key across contexts).
-- The runner creates the schema.

-- +goose Up
-- One row per order heard of: the buyer of the last event that named one
-- (OrderCompleted names none) and the newest order version an email was
-- queued for, so that a repeated or late event makes no second email.
-- Forgotten after a retention (the address is personal data).
CREATE TABLE notification.orders (
    order_id       uuid PRIMARY KEY,
    buyer_email    text NOT NULL DEFAULT '',
    buyer_name     text NOT NULL DEFAULT '',
    mailed_version bigint NOT NULL DEFAULT 0 CHECK (mailed_version >= 0),
    update_time    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_update_time_idx ON notification.orders (update_time);

-- The email outbox: one row per email, rendered when queued (in the
-- transaction that records the event in the inbox), then claimed, sent and
-- marked by the senders. Its id is the email's Message-ID.
CREATE TABLE notification.emails (
    id                uuid PRIMARY KEY,
    order_id          uuid NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('placed', 'confirmed', 'failed', 'cancelled', 'shipped', 'completed')),
    order_version     bigint NOT NULL CHECK (order_version >= 1),
    to_email          text NOT NULL CHECK (to_email <> ''),
    to_name           text NOT NULL DEFAULT '',
    subject           text NOT NULL,
    text_body         text NOT NULL,
    html_body         text NOT NULL,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    -- Attempts made, the one in progress included.
    attempts          int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    create_time       timestamptz NOT NULL,
    -- While pending: when the email is due; a claim moves it past the
    -- lease, so that a sender that died lets the email come back.
    next_attempt_time timestamptz,
    sent_time         timestamptz,
    fail_time         timestamptz,
    -- The last failure, for operators (the server's answer; never the
    -- address nor the body).
    last_error        text NOT NULL DEFAULT '',
    CHECK ((status = 'pending') = (next_attempt_time IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_time IS NOT NULL)),
    -- One email per order version, however often its event comes.
    CONSTRAINT emails_order_version_key UNIQUE (order_id, order_version)
);
-- The senders' queue: small, rows leave it when sent or given up.
CREATE INDEX emails_due_idx ON notification.emails (next_attempt_time, id) WHERE status = 'pending';
-- The clean-up of sent mail.
CREATE INDEX emails_sent_idx ON notification.emails (sent_time) WHERE status = 'sent';

-- +goose Down
DROP TABLE notification.emails;
DROP TABLE notification.orders;
