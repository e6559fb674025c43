-- The chat model's review summaries, one per book, shared by every replica
-- and kept over restarts. fingerprint identifies the reviews a summary was
-- written from (the model, the histogram, the ids and versions of the
-- reviews read): when the book's reviews change, the fingerprint computed
-- from them no longer matches and the summary is written again.

-- +goose Up
CREATE TABLE IF NOT EXISTS rating.review_summaries (
    book_id      uuid PRIMARY KEY,
    fingerprint  text NOT NULL,
    text         text NOT NULL,
    model        text NOT NULL,
    reviews_read integer NOT NULL CHECK (reviews_read >= 0),
    review_count bigint NOT NULL CHECK (review_count >= 0),
    create_time  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rating.review_summaries;
