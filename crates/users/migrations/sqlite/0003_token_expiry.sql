-- Housekeeping deletes refresh tokens once they have expired: find them by expiry.
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
