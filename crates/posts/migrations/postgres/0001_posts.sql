-- posts service: posts, tags, likes, idempotency keys. Runs with search_path = the service's
-- schema, so names are unqualified. Mirrors migrations/sqlite/0001_posts.sql with native types.
CREATE TABLE posts (
    id         UUID PRIMARY KEY,
    author_id  UUID NOT NULL,
    text       TEXT NOT NULL,
    -- No foreign key, as on SQLite: replies outlive a deleted parent and keep its id.
    reply_to   UUID,
    hashtags   TEXT[] NOT NULL DEFAULT '{}',
    mentions   TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX posts_by_author ON posts (author_id, id);
CREATE INDEX posts_by_reply_to ON posts (reply_to, id) WHERE reply_to IS NOT NULL;

CREATE TABLE post_tags (
    tag     TEXT NOT NULL,
    post_id UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_by_post ON post_tags (post_id);

CREATE TABLE likes (
    post_id    UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_by_user ON likes (user_id);

-- No foreign key to posts, as on SQLite: a key outlives its post and still replays its id.
CREATE TABLE idempotency_keys (
    user_id      UUID NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    post_id      UUID NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);
