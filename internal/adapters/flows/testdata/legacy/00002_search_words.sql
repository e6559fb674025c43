-- The search lexicon: every word of a title or author name, once. Typo
-- tolerance looks query words up here by trigram distance (a small table,
-- so that is cheap) and searches the full-text index for the words found,
-- instead of comparing the query with the text of every book.

-- +goose Up
CREATE TABLE search_words (
    word text PRIMARY KEY
);
-- GiST, not GIN: it answers "nearest words first" (ORDER BY word <-> $1).
CREATE INDEX search_words_trgm_idx ON search_words USING gist (word gist_trgm_ops);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION catalog_refresh_book_search(book_ids uuid[]) RETURNS void
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

    -- In a fixed order, so that concurrent writers adding the same words
    -- wait for each other instead of deadlocking. Words never leave: one
    -- that no book has any more only makes a typo search find nothing.
    INSERT INTO search_words (word)
    SELECT DISTINCT w
      FROM books b, regexp_split_to_table(lower(b.search_text), '[^[:alpha:]]+') AS w
     WHERE b.id = ANY (book_ids) AND length(w) >= 3
     ORDER BY w
    ON CONFLICT DO NOTHING;
$$;
-- +goose StatementEnd

INSERT INTO search_words (word)
SELECT DISTINCT w FROM books, regexp_split_to_table(lower(search_text), '[^[:alpha:]]+') AS w
 WHERE length(w) >= 3
ON CONFLICT DO NOTHING;

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION catalog_refresh_book_search(book_ids uuid[]) RETURNS void
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
DROP TABLE search_words;
