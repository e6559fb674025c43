-- The Catalog context's memory of the reviews it heard of: what it counted
-- of each in its book's rating_sum and rating_count, and the version of the
-- last review event it applied, so that review events, delivered at least
-- once and in any order, change the sums exactly once and stale ones are
-- skipped (see catalog.ApplyReviewEvent). Rows of removed and rejected
-- reviews stay as tombstones: a late event of such a review is recognised
-- and ignored.

-- +goose Up
CREATE TABLE catalog_review_tallies (
    review_id uuid PRIMARY KEY,
    book_id   uuid NOT NULL,
    -- catalog.TallyState: 1 counted, 2 removed, 3 rejected (0, unseen, only
    -- inside the transaction that first hears of a review).
    state     smallint NOT NULL CHECK (state BETWEEN 0 AND 3),
    -- The stars counted while state is 1, else 0.
    stars     smallint NOT NULL CHECK (stars BETWEEN 0 AND 5),
    version   bigint NOT NULL CHECK (version >= 0)
);
CREATE INDEX catalog_review_tallies_book_idx ON catalog_review_tallies (book_id);

-- +goose Down
DROP TABLE catalog_review_tallies;
