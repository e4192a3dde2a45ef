-- The transactional outbox: events written in the same transaction as the change. The relay
-- publishes rows in seq order and marks them sent; position is the embedded log's order.
CREATE TABLE notifications_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    event_key  TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    position   INTEGER UNIQUE,
    sent_at    TEXT
);
CREATE INDEX notifications_outbox_unsent ON notifications_outbox (seq) WHERE sent_at IS NULL;
