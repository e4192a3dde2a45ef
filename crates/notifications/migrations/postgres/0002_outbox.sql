-- The transactional outbox: events written in the same transaction as the change. The relay
-- publishes rows in seq order and marks them sent; position is the embedded log's order,
-- assigned in commit order by the one active relay (seq is not commit-ordered).
CREATE TABLE outbox (
    seq        BIGSERIAL PRIMARY KEY,
    event_id   UUID NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    event_key  TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    position   BIGINT UNIQUE,
    sent_at    TIMESTAMPTZ
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
