-- Retention (README "Retention"): when a message ended, whether it was redacted, which idempotency
-- record created it, and counts of final messages kept up to date so `GET /metrics` never counts the
-- whole table. Same dialect as the first migration (SQLite and PostgreSQL).

-- When the message reached a final status (or ended without a receipt); its age for retention counts
-- from here. NULL while it is under way.
ALTER TABLE messages ADD COLUMN ended_at BIGINT;
-- 1 once its text, media URLs and full recipient number are gone.
ALTER TABLE messages ADD COLUMN redacted BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET ended_at = updated_at WHERE status IN ('delivered', 'undelivered', 'failed');
-- The purge and the redaction read ended messages oldest first, redacted ones and the others apart:
-- one range of this index each, whatever the size of the store.
CREATE INDEX messages_ended_idx ON messages (redacted, ended_at) WHERE ended_at IS NOT NULL;

-- The message (or, for a bulk send, the batch) whose answer an idempotency record holds, so that
-- deleting or redacting the message also deletes the stored answer.
ALTER TABLE idempotency_keys ADD COLUMN message_ref TEXT;
CREATE INDEX idempotency_keys_message_idx ON idempotency_keys (message_ref)
    WHERE message_ref IS NOT NULL;

-- How many messages are in each final status. Final statuses are entered once and never left (only
-- the purge or a DELETE removes such a message), so the count is kept exactly in the transaction
-- that changes it. Several rows (shards) a status, so that concurrent PostgreSQL transactions do not
-- all wait on one row; the total is their sum. Non-final statuses are counted from the status index
-- (they hold only the messages under way).
CREATE TABLE status_counts (
    status TEXT   NOT NULL,
    shard  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (status, shard)
);
INSERT INTO status_counts (status, shard, n)
    SELECT status, 0, COUNT(*) FROM messages
    WHERE status IN ('delivered', 'undelivered', 'failed') GROUP BY status;
