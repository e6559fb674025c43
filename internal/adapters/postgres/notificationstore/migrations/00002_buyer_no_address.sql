-- +goose Up
-- An order whose buyer has no email address (their token carried none):
-- its notices are done, not retried for an address that will never come.
ALTER TABLE notification.orders ADD COLUMN buyer_no_address boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE notification.orders DROP COLUMN buyer_no_address;
