-- The schema basket: one basket per customer and its lines. The basket
-- context does not own books: book_id refers to the catalog's books by id
-- only (no foreign key across contexts); titles and prices are read from the
-- catalog whenever a basket is shown.

-- +goose Up
CREATE TABLE basket.baskets (
    -- The customer's subject (the token's sub).
    owner       text PRIMARY KEY CHECK (owner <> ''),
    -- The currency of the basket's books; '' when it has none.
    currency    text NOT NULL DEFAULT '',
    -- Grows by one with every change: the optimistic concurrency check of
    -- every write (UPDATE ... WHERE version = the version read).
    version     bigint NOT NULL CHECK (version >= 1),
    update_time timestamptz NOT NULL,
    -- What the basket remembers to make AddItem and the clearing after an
    -- order idempotent (at most 100 entries, oldest first).
    recent_keys text[] NOT NULL DEFAULT '{}' CHECK (cardinality(recent_keys) <= 100)
);

CREATE TABLE basket.lines (
    owner    text NOT NULL REFERENCES basket.baskets (owner) ON DELETE CASCADE,
    -- The line's place in the basket, 0 for the oldest.
    position smallint NOT NULL CHECK (position BETWEEN 0 AND 99),
    book_id  uuid NOT NULL,
    quantity smallint NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    add_time timestamptz NOT NULL,
    PRIMARY KEY (owner, position),
    CONSTRAINT lines_owner_book_key UNIQUE (owner, book_id)
);

-- +goose Down
DROP TABLE basket.lines;
DROP TABLE basket.baskets;
