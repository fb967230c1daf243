-- Asynchronous delivery: the outbox (columns on messages), status events for callers, and the
-- instances sharing Plivo's limits. Same dialect as the first migration.

ALTER TABLE messages ADD COLUMN next_attempt_at BIGINT;
ALTER TABLE messages ADD COLUMN deadline_at BIGINT;
ALTER TABLE messages ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN lease_owner TEXT;
ALTER TABLE messages ADD COLUMN lease_until BIGINT;

-- Only messages waiting for a worker have next_attempt_at set.
CREATE INDEX messages_outbox_idx ON messages (next_attempt_at);

CREATE TABLE callback_events (
    event_id        TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    status          TEXT NOT NULL,
    error_code      TEXT,
    occurred_at     BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT
);

CREATE INDEX callback_events_due_idx ON callback_events (next_attempt_at);
CREATE INDEX callback_events_message_idx ON callback_events (message_id, seq);

CREATE TABLE callback_attempts (
    event_id        TEXT NOT NULL REFERENCES callback_events (event_id) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    response_status BIGINT,
    error           TEXT,
    PRIMARY KEY (event_id, attempt)
);

CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL,
    pause_until  BIGINT
);
