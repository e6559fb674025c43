-- The schema rating: reviews and the per-book star counts of the rating
-- summary. The rating context does not own books: book_id refers to the
-- catalog's books by id only (no foreign key across contexts); the catalog
-- rejects reviews of books it does not have, and the rating context then
-- removes them.
--
-- The runner creates the schema. A database made before the contexts had
-- schemas of their own keeps these tables in public (reviews,
-- rating_summaries): this migration first moves them here, rows, indexes
-- and constraints with them, and then creates whatever is missing, so that
-- an upgraded database and a fresh one end in the same schema.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    n int;
BEGIN
    IF to_regclass('public.reviews') IS NOT NULL AND to_regclass('rating.reviews') IS NULL THEN
        ALTER TABLE public.reviews SET SCHEMA rating;
    END IF;
    IF to_regclass('public.rating_summaries') IS NOT NULL AND to_regclass('rating.summaries') IS NULL THEN
        ALTER TABLE public.rating_summaries SET SCHEMA rating;
        ALTER TABLE rating.rating_summaries RENAME TO summaries;
        ALTER INDEX rating.rating_summaries_pkey RENAME TO summaries_pkey;
        FOR n IN 1..5 LOOP
            EXECUTE format('ALTER TABLE rating.summaries RENAME CONSTRAINT rating_summaries_stars_%s_check TO summaries_stars_%s_check', n, n);
        END LOOP;
    END IF;
END $$;
-- +goose StatementEnd

CREATE TABLE IF NOT EXISTS rating.reviews (
    id          uuid PRIMARY KEY,
    book_id     uuid NOT NULL,
    -- The author's subject (the token's sub) and display name.
    user_id     text NOT NULL CHECK (user_id <> ''),
    user_name   text NOT NULL DEFAULT '',
    stars       smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    title       text NOT NULL DEFAULT '',
    body        text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL CHECK (version >= 1),
    -- One review per user and book.
    CONSTRAINT reviews_book_user_key UNIQUE (book_id, user_id)
);
-- One index per ListReviews order, each newest first among equal stars.
CREATE INDEX IF NOT EXISTS reviews_newest_idx ON rating.reviews (book_id, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS reviews_highest_idx ON rating.reviews (book_id, stars DESC, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS reviews_lowest_idx ON rating.reviews (book_id, stars ASC, create_time DESC, id DESC);

-- How many reviews of a book gave each number of stars, kept in the
-- transaction of every review write. The count, the sum and the average are
-- derived from these exact integers on read.
CREATE TABLE IF NOT EXISTS rating.summaries (
    book_id uuid PRIMARY KEY,
    stars_1 bigint NOT NULL DEFAULT 0 CHECK (stars_1 >= 0),
    stars_2 bigint NOT NULL DEFAULT 0 CHECK (stars_2 >= 0),
    stars_3 bigint NOT NULL DEFAULT 0 CHECK (stars_3 >= 0),
    stars_4 bigint NOT NULL DEFAULT 0 CHECK (stars_4 >= 0),
    stars_5 bigint NOT NULL DEFAULT 0 CHECK (stars_5 >= 0)
);

-- +goose Down
DROP TABLE rating.summaries;
DROP TABLE rating.reviews;
