-- Sign-ups waiting for their e-mail address to be confirmed (SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION):
-- the account to create, keyed by the SHA-256 of the token mailed to the address. Confirming
-- creates the user and deletes the row; housekeeping deletes the expired ones.
CREATE TABLE signups (
    token_hash    TEXT PRIMARY KEY,
    id            UUID NOT NULL,
    username      TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX signups_by_expiry ON signups (expires_at);
