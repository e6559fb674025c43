-- The Catalog context: books and the authors, categories and publishers they
-- refer to, with the search index kept in the books table itself.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE authors (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    biography   text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
-- Lists page by (name, id).
CREATE INDEX authors_name_idx ON authors (name, id);

CREATE TABLE categories (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE UNIQUE INDEX categories_name_key ON categories (lower(name));
CREATE INDEX categories_name_idx ON categories (name, id);

CREATE TABLE publishers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE UNIQUE INDEX publishers_name_key ON publishers (lower(name));
CREATE INDEX publishers_name_idx ON publishers (name, id);

-- A deleted book stays readable by id (past orders show it), but it must not
-- keep an author, category or publisher alive: deleting those is refused only
-- while a live book uses them (checked under a row lock by the adapter), and
-- then the references of deleted books go away with them (SET NULL here,
-- CASCADE in book_authors). A deleted book may so come back without a
-- category, a publisher or some authors; its title, price and ISBN, what an
-- order needs, stay.
CREATE TABLE books (
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
    category_id     uuid REFERENCES categories (id) ON DELETE SET NULL,
    publisher_id    uuid REFERENCES publishers (id) ON DELETE SET NULL,
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
    -- names C, description D. Written by catalog_refresh_book_search.
    search          tsvector NOT NULL DEFAULT ''::tsvector,
    -- Title and author names, for typo-tolerant trigram matching.
    search_text     text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX books_isbn_key ON books (isbn) WHERE isbn IS NOT NULL AND delete_time IS NULL;
-- One index per ListBooks order; each serves both directions.
CREATE INDEX books_title_idx ON books (title, id) WHERE delete_time IS NULL;
CREATE INDEX books_price_idx ON books (effective_minor, id) WHERE delete_time IS NULL;
CREATE INDEX books_create_time_idx ON books (create_time, id) WHERE delete_time IS NULL;
CREATE INDEX books_rating_idx ON books (rating_avg, id) WHERE delete_time IS NULL;
-- Filters, the live-reference checks of entity deletes, and ON DELETE SET NULL.
CREATE INDEX books_category_idx ON books (category_id);
CREATE INDEX books_publisher_idx ON books (publisher_id);
-- GIN indexes keep new entries in a pending list that searches scan
-- linearly; a bulk load (Seed) merges it at once with gin_clean_pending_list,
-- the rare single writes leave it short until autovacuum merges it.
CREATE INDEX books_search_idx ON books USING gin (search) WHERE delete_time IS NULL;
CREATE INDEX books_search_text_idx ON books USING gin (search_text gin_trgm_ops) WHERE delete_time IS NULL;

-- The authors of a book in credit order.
CREATE TABLE book_authors (
    book_id   uuid NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    position  smallint NOT NULL CHECK (position >= 0),
    author_id uuid NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    PRIMARY KEY (book_id, position),
    UNIQUE (book_id, author_id)
);
CREATE INDEX book_authors_author_idx ON book_authors (author_id, book_id);

-- catalog_refresh_book_search recomputes the search columns of the given
-- books from their current title, description, authors, category and
-- publisher. Every write that changes one of those calls it in the same
-- transaction.
-- +goose StatementBegin
CREATE FUNCTION catalog_refresh_book_search(book_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE books b
    SET search = setweight(to_tsvector('english', b.title), 'A')
              || setweight(to_tsvector('english', coalesce(s.author_names, '')), 'B')
              || setweight(to_tsvector('english', concat_ws(' ', s.category_name, s.publisher_name)), 'C')
              || setweight(to_tsvector('english', b.description), 'D'),
        search_text = concat_ws(' ', b.title, s.author_names)
    FROM (
        SELECT x.id,
               (SELECT string_agg(a.name, ' ' ORDER BY ba.position)
                  FROM book_authors ba JOIN authors a ON a.id = ba.author_id
                 WHERE ba.book_id = x.id) AS author_names,
               c.name AS category_name,
               p.name AS publisher_name
          FROM books x
          LEFT JOIN categories c ON c.id = x.category_id
          LEFT JOIN publishers p ON p.id = x.publisher_id
         WHERE x.id = ANY (book_ids)
    ) s
    WHERE b.id = s.id;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION catalog_refresh_book_search(uuid[]);
DROP TABLE book_authors;
DROP TABLE books;
DROP TABLE publishers;
DROP TABLE categories;
DROP TABLE authors;
