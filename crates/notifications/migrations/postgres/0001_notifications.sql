-- One row per notification. dedupe_key (recipient, kind, actor, post) makes a repeat — a
-- redelivered event, a like after an unlike — store nothing new. hidden: an unread `liked`
-- whose like was taken back (shown again, without a new notification, if liked again).
CREATE TABLE notifications (
    id           UUID PRIMARY KEY,
    recipient_id UUID NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('followed', 'liked', 'mentioned', 'replied')),
    actor_id     UUID NOT NULL,
    post_id      UUID,
    dedupe_key   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    read_at      TIMESTAMPTZ,
    hidden       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_by_recipient ON notifications (recipient_id, id);
CREATE INDEX notifications_unread ON notifications (recipient_id) WHERE read_at IS NULL AND NOT hidden;
CREATE INDEX notifications_by_post ON notifications (post_id) WHERE post_id IS NOT NULL;
