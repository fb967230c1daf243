-- Indexes over columns that are NULL for most rows now hold only the rows with a value, so writing a
-- row without one costs nothing: a synchronous send never enters the outbox index, and a message's
-- Plivo UUID is indexed once it is known. Every query on these columns compares them with a value,
-- which implies IS NOT NULL, so SQLite and PostgreSQL both still use the indexes.
-- No query reads messages by batch id: its index only cost every insert.
DROP INDEX messages_batch_idx;
DROP INDEX messages_outbox_idx;
CREATE INDEX messages_outbox_idx ON messages (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX messages_uuid_idx;
CREATE INDEX messages_uuid_idx ON messages (message_uuid) WHERE message_uuid IS NOT NULL;
