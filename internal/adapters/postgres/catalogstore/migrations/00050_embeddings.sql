-- Book embeddings for semantic search and similar books (pgvector).
--
-- Only when the server has the vector extension: without it this migration
-- changes nothing and the catalog serves its lexical features alone
-- (Embeddings.Ready says so, and creates the table later should the
-- extension appear). One row per book: the model and dimension it was made
-- with (a model change re-embeds rather than mixing spaces), the hash of the
-- text it was made from (re-embedded only when that text changes), the book
-- version embedded, and stale_version: the version of a known change of the
-- text (from the catalog's events), pending while above book_version. The HNSW index is
-- per dimension (a vector column of any dimension cannot be indexed), made
-- by the store when it first writes a dimension.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
        EXECUTE $t$
            CREATE TABLE IF NOT EXISTS catalog.book_embeddings (
                book_id     uuid PRIMARY KEY REFERENCES catalog.books (id) ON DELETE CASCADE,
                model       text NOT NULL,
                dimension   integer NOT NULL CHECK (dimension > 0),
                embedding   public.vector NOT NULL,
                text_hash   text NOT NULL,
                book_version bigint NOT NULL,
                stale_version bigint NOT NULL DEFAULT 0,
                update_time timestamptz NOT NULL DEFAULT now()
            )$t$;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'catalog: no privilege to create the vector extension; semantic search stays off';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE IF EXISTS catalog.book_embeddings;
