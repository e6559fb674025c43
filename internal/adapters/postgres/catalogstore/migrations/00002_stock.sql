-- Stock for the checkout saga. A book's stock column stays what it was (and
-- what the contract's stock_quantity says): the copies available now. The
-- copies held for unpaid orders and the copies sold get columns of their
-- own, so that available + reserved + sold is the stock loaded and each
-- count can be checked never to fall below zero. Existing books start with
-- nothing reserved or sold.
--
-- stock_reservations is the catalog's memory of each order it was asked
-- about (internal/core/catalog/stock.Reservation), so that a redelivered
-- OrderPlaced gets its first answer again and a release finds what to put
-- back.

-- +goose Up
ALTER TABLE catalog.books
    ADD COLUMN IF NOT EXISTS stock_reserved integer NOT NULL DEFAULT 0 CONSTRAINT books_stock_reserved_check CHECK (stock_reserved >= 0),
    ADD COLUMN IF NOT EXISTS stock_sold     integer NOT NULL DEFAULT 0 CONSTRAINT books_stock_sold_check CHECK (stock_sold >= 0);

CREATE TABLE IF NOT EXISTS catalog.stock_reservations (
    order_id          uuid PRIMARY KEY,
    -- stock.State: 1 reserved, 2 rejected, 3 committed, 4 released.
    state             smallint NOT NULL CHECK (state BETWEEN 1 AND 4),
    version           bigint NOT NULL CHECK (version >= 1),
    -- [{"book_id": "...", "quantity": n}], sorted by book id.
    lines             jsonb NOT NULL DEFAULT '[]',
    -- stock.RejectReason, 0 when not rejected.
    reject_reason     smallint NOT NULL DEFAULT 0,
    rejected_book_ids text[] NOT NULL DEFAULT '{}',
    was_committed     boolean NOT NULL DEFAULT false,
    update_time       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS catalog.stock_reservations;
ALTER TABLE catalog.books DROP COLUMN IF EXISTS stock_sold, DROP COLUMN IF EXISTS stock_reserved;
