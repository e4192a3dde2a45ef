-- Authors as the posts service last heard of them (user.registered / user.updated events):
-- listings show names without asking the users service. Kept by a durable consumer.
CREATE TABLE authors (
    id           UUID PRIMARY KEY,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
