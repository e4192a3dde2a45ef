-- users service: accounts, follow graph, refresh tokens. Runs with search_path set to the
-- service's schema, so names are unqualified.
CREATE TABLE users (
    id             UUID PRIMARY KEY,
    username       TEXT NOT NULL,
    -- "C": byte order and ASCII-only case rules, like SQLite's, whatever the locale.
    username_lower TEXT COLLATE "C" NOT NULL,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    bio            TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    -- The store tells which field is taken by the constraint's name.
    CONSTRAINT users_username_lower_key UNIQUE (username_lower),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE follows (
    id          UUID PRIMARY KEY,
    follower_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
-- Followers / following lists (newest first by id) and counts.
CREATE INDEX follows_by_followee ON follows (followee_id, id);
CREATE INDEX follows_by_follower ON follows (follower_id, id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  UUID NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
