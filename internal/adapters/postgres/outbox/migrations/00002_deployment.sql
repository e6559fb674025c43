-- The deployment's identity: one UUIDv7 made when the database is first
-- migrated, read by every process at start. Processes sharing the database
-- (replicas, the split topology's catalog and rating processes) are one
-- deployment; events carry the identity in ce-source
-- ("bookworm://<id>/<context>") and consumers drop events of any other, so
-- that many deployments can share one broker. A database cloned from
-- another (a production dump restored for staging) must be given a new
-- identity: DELETE FROM events.deployment, and the next start makes one.

-- +goose Up
CREATE TABLE IF NOT EXISTS events.deployment (
    -- At most one row.
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id          uuid NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

-- A UUIDv7 (Postgres 15 has no generator): the random v4's first 48 bits
-- replaced by the Unix time in milliseconds, its version nibble set to 7.
INSERT INTO events.deployment (id)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
ON CONFLICT DO NOTHING;

-- Events not yet published take the new form of ce-source, so that the
-- consumers of this deployment, which now drop events without one, apply
-- them ("/bookworm/catalog" becomes "bookworm://<id>/catalog").
UPDATE events.outbox
   SET source = 'bookworm://' || (SELECT id::text FROM events.deployment) || '/' || regexp_replace(source, '^.*/', '')
 WHERE published_at IS NULL AND source NOT LIKE 'bookworm://%';

-- +goose Down
DROP TABLE events.deployment;
