-- Housekeeping deletes idempotency keys older than their retention: find them by age.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
