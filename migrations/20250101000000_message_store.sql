-- The message store. One dialect for SQLite and PostgreSQL: TEXT ids, BIGINT unix microseconds,
-- BIGINT 0/1 flags, JSON arrays and base64 bodies as TEXT.

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN
                         ('accepted', 'sending', 'queued', 'sent', 'delivered', 'undelivered', 'failed')),
    recipient_number TEXT NOT NULL,
    sender_number    TEXT NOT NULL,
    message_text     TEXT,
    media_urls       TEXT NOT NULL,
    media_ids        TEXT NOT NULL,
    message_uuid     TEXT,
    error_code       TEXT,
    error_message    TEXT,
    outcome_unknown  BIGINT NOT NULL DEFAULT 0,
    callback_url     TEXT,
    batch_id         TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX messages_created_idx ON messages (created_at, id);
CREATE INDEX messages_recipient_idx ON messages (recipient_number, created_at, id);
CREATE INDEX messages_status_idx ON messages (status, created_at, id);
CREATE INDEX messages_uuid_idx ON messages (message_uuid);
CREATE INDEX messages_batch_idx ON messages (batch_id);

CREATE TABLE message_events (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    status     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    error_code TEXT,
    detail     TEXT,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE idempotency_keys (
    idem_key        TEXT PRIMARY KEY,
    request_hash    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    response_status BIGINT,
    response_body   TEXT
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE used_nonces (
    nonce   TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);

CREATE INDEX used_nonces_seen_idx ON used_nonces (seen_at);
