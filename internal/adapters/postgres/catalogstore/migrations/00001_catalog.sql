-- The schema catalog: books and the authors, categories and publishers they
-- refer to, with the search index kept in the books table itself, the
-- search lexicon, and the catalog's memory of the reviews it counted.
--
-- The runner creates the schema. A database made before the contexts had
-- schemas of their own keeps these tables in public: this migration first
-- moves them here, rows, indexes, constraints and all, and then creates
-- whatever is missing, so that an upgraded database and a fresh one end in
-- the same schema (a test compares them).

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['authors', 'categories', 'publishers', 'books', 'book_authors', 'search_words'] LOOP
        IF to_regclass('public.' || t) IS NOT NULL AND to_regclass('catalog.' || t) IS NULL THEN
            EXECUTE format('ALTER TABLE public.%I SET SCHEMA catalog', t);
        END IF;
    END LOOP;
    IF to_regclass('public.catalog_review_tallies') IS NOT NULL AND to_regclass('catalog.review_tallies') IS NULL THEN
        ALTER TABLE public.catalog_review_tallies SET SCHEMA catalog;
        ALTER TABLE catalog.catalog_review_tallies RENAME TO review_tallies;
        ALTER INDEX catalog.catalog_review_tallies_pkey RENAME TO review_tallies_pkey;
        ALTER INDEX catalog.catalog_review_tallies_book_idx RENAME TO review_tallies_book_idx;
        ALTER TABLE catalog.review_tallies RENAME CONSTRAINT catalog_review_tallies_state_check TO review_tallies_state_check;
        ALTER TABLE catalog.review_tallies RENAME CONSTRAINT catalog_review_tallies_stars_check TO review_tallies_stars_check;
        ALTER TABLE catalog.review_tallies RENAME CONSTRAINT catalog_review_tallies_version_check TO review_tallies_version_check;
    END IF;
    -- The old search function named its tables through the search_path;
    -- catalog.refresh_book_search below names them with their schema.
    DROP FUNCTION IF EXISTS public.catalog_refresh_book_search(uuid[]);
END $$;
-- +goose StatementEnd

CREATE TABLE IF NOT EXISTS catalog.authors (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    biography   text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
-- Lists page by (name, id).
CREATE INDEX IF NOT EXISTS authors_name_idx ON catalog.authors (name, id);

CREATE TABLE IF NOT EXISTS catalog.categories (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS categories_name_key ON catalog.categories (lower(name));
CREATE INDEX IF NOT EXISTS categories_name_idx ON catalog.categories (name, id);

CREATE TABLE IF NOT EXISTS catalog.publishers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS publishers_name_key ON catalog.publishers (lower(name));
CREATE INDEX IF NOT EXISTS publishers_name_idx ON catalog.publishers (name, id);

-- A deleted book stays readable by id (past orders show it), but it must not
-- keep an author, category or publisher alive: deleting those is refused only
-- while a live book uses them (checked under a row lock by the adapter), and
-- then the references of deleted books go away with them (SET NULL here,
-- CASCADE in book_authors). A deleted book may so come back without a
-- category, a publisher or some authors; its title, price and ISBN, what an
-- order needs, stay.
CREATE TABLE IF NOT EXISTS catalog.books (
    id              uuid PRIMARY KEY,
    title           text NOT NULL,
    description     text NOT NULL DEFAULT '',
    -- 13 digits; unique among live books (see books_isbn_key), so a book
    -- deleted by mistake can be created again.
    isbn            text CHECK (isbn ~ '^97[89][0-9]{10}$'),
    -- Both prices are in this ISO 4217 currency, in its minor units.
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    price_minor     bigint NOT NULL CHECK (price_minor > 0),
    sale_minor      bigint CHECK (sale_minor > 0 AND sale_minor < price_minor),
    effective_minor bigint GENERATED ALWAYS AS (coalesce(sale_minor, price_minor)) STORED,
    stock           integer NOT NULL CHECK (stock >= 0),
    category_id     uuid REFERENCES catalog.categories (id) ON DELETE SET NULL,
    publisher_id    uuid REFERENCES catalog.publishers (id) ON DELETE SET NULL,
    image_url       text NOT NULL DEFAULT '',
    -- Exact integers; the average is derived (rating_avg only exists to be
    -- sorted on).
    rating_sum      bigint NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    rating_count    integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    rating_avg      double precision GENERATED ALWAYS AS (
                        CASE WHEN rating_count = 0 THEN 0 ELSE rating_sum::double precision / rating_count END
                    ) STORED,
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    delete_time     timestamptz,
    version         bigint NOT NULL,
    -- Full-text document: title A, author names B, category and publisher
    -- names C, description D. Written by catalog.refresh_book_search.
    search          tsvector NOT NULL DEFAULT ''::tsvector,
    -- Title and author names, for typo-tolerant trigram matching.
    search_text     text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS books_isbn_key ON catalog.books (isbn) WHERE isbn IS NOT NULL AND delete_time IS NULL;
-- One index per ListBooks order; each serves both directions.
CREATE INDEX IF NOT EXISTS books_title_idx ON catalog.books (title, id) WHERE delete_time IS NULL;
CREATE INDEX IF NOT EXISTS books_price_idx ON catalog.books (effective_minor, id) WHERE delete_time IS NULL;
CREATE INDEX IF NOT EXISTS books_create_time_idx ON catalog.books (create_time, id) WHERE delete_time IS NULL;
CREATE INDEX IF NOT EXISTS books_rating_idx ON catalog.books (rating_avg, id) WHERE delete_time IS NULL;
-- Filters, the live-reference checks of entity deletes, and ON DELETE SET NULL.
CREATE INDEX IF NOT EXISTS books_category_idx ON catalog.books (category_id);
CREATE INDEX IF NOT EXISTS books_publisher_idx ON catalog.books (publisher_id);
-- GIN indexes keep new entries in a pending list that searches scan
-- linearly; a bulk load (Seed) merges it at once with gin_clean_pending_list,
-- the rare single writes leave it short until autovacuum merges it.
CREATE INDEX IF NOT EXISTS books_search_idx ON catalog.books USING gin (search) WHERE delete_time IS NULL;
CREATE INDEX IF NOT EXISTS books_search_text_idx ON catalog.books USING gin (search_text gin_trgm_ops) WHERE delete_time IS NULL;

-- The authors of a book in credit order.
CREATE TABLE IF NOT EXISTS catalog.book_authors (
    book_id   uuid NOT NULL REFERENCES catalog.books (id) ON DELETE CASCADE,
    position  smallint NOT NULL CHECK (position >= 0),
    author_id uuid NOT NULL REFERENCES catalog.authors (id) ON DELETE CASCADE,
    PRIMARY KEY (book_id, position),
    UNIQUE (book_id, author_id)
);
CREATE INDEX IF NOT EXISTS book_authors_author_idx ON catalog.book_authors (author_id, book_id);

-- The search lexicon: every word of a title or author name, once. Typo
-- tolerance looks query words up here by trigram distance (a small table,
-- so that is cheap) and searches the full-text index for the words found,
-- instead of comparing the query with the text of every book.
CREATE TABLE IF NOT EXISTS catalog.search_words (
    word text PRIMARY KEY
);
-- GiST, not GIN: it answers "nearest words first" (ORDER BY word <-> $1).
CREATE INDEX IF NOT EXISTS search_words_trgm_idx ON catalog.search_words USING gist (word gist_trgm_ops);

-- The catalog's memory of the reviews it heard of: what it counted of each
-- in its book's rating_sum and rating_count, and the version of the last
-- review event it applied, so that review events, delivered at least once
-- and in any order, change the sums exactly once and stale ones are skipped
-- (see catalog.ApplyReviewEvent). Rows of removed and rejected reviews stay
-- as tombstones: a late event of such a review is recognised and ignored.
CREATE TABLE IF NOT EXISTS catalog.review_tallies (
    review_id uuid PRIMARY KEY,
    book_id   uuid NOT NULL,
    -- catalog.TallyState: 1 counted, 2 removed, 3 rejected (0, unseen, only
    -- inside the transaction that first hears of a review).
    state     smallint NOT NULL CHECK (state BETWEEN 0 AND 3),
    -- The stars counted while state is 1, else 0.
    stars     smallint NOT NULL CHECK (stars BETWEEN 0 AND 5),
    version   bigint NOT NULL CHECK (version >= 0)
);
CREATE INDEX IF NOT EXISTS review_tallies_book_idx ON catalog.review_tallies (book_id);

-- catalog.refresh_book_search recomputes the search columns of the given
-- books from their current title, description, authors, category and
-- publisher, and adds their words to the lexicon. Every write that changes
-- one of those calls it in the same transaction. It names every table with
-- its schema, so it works whatever the caller's search_path.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION catalog.refresh_book_search(book_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE catalog.books b
    SET search = setweight(to_tsvector('pg_catalog.english', b.title), 'A')
              || setweight(to_tsvector('pg_catalog.english', coalesce(s.author_names, '')), 'B')
              || setweight(to_tsvector('pg_catalog.english', concat_ws(' ', s.category_name, s.publisher_name)), 'C')
              || setweight(to_tsvector('pg_catalog.english', b.description), 'D'),
        search_text = concat_ws(' ', b.title, s.author_names)
    FROM (
        SELECT x.id,
               (SELECT string_agg(a.name, ' ' ORDER BY ba.position)
                  FROM catalog.book_authors ba JOIN catalog.authors a ON a.id = ba.author_id
                 WHERE ba.book_id = x.id) AS author_names,
               c.name AS category_name,
               p.name AS publisher_name
          FROM catalog.books x
          LEFT JOIN catalog.categories c ON c.id = x.category_id
          LEFT JOIN catalog.publishers p ON p.id = x.publisher_id
         WHERE x.id = ANY (book_ids)
    ) s
    WHERE b.id = s.id;

    -- In a fixed order, so that concurrent writers adding the same words
    -- wait for each other instead of deadlocking. Words never leave: one
    -- that no book has any more only makes a typo search find nothing.
    INSERT INTO catalog.search_words (word)
    SELECT DISTINCT w
      FROM catalog.books b, regexp_split_to_table(lower(b.search_text), '[^[:alpha:]]+') AS w
     WHERE b.id = ANY (book_ids) AND length(w) >= 3
     ORDER BY w
    ON CONFLICT DO NOTHING;
$$;
-- +goose StatementEnd

-- The lexicon of books written before it existed (a database migrated from
-- before search_words); nothing in a fresh or complete one.
INSERT INTO catalog.search_words (word)
SELECT DISTINCT w FROM catalog.books, regexp_split_to_table(lower(search_text), '[^[:alpha:]]+') AS w
 WHERE length(w) >= 3
ON CONFLICT DO NOTHING;

-- +goose Down
DROP FUNCTION catalog.refresh_book_search(uuid[]);
DROP TABLE catalog.review_tallies;
DROP TABLE catalog.search_words;
DROP TABLE catalog.book_authors;
DROP TABLE catalog.books;
DROP TABLE catalog.publishers;
DROP TABLE catalog.categories;
DROP TABLE catalog.authors;
