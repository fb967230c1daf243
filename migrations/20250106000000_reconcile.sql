-- Reconciliation with Plivo's records (README "Delivery guarantees"). Same dialect as the first
-- migration: BIGINT unix microseconds, JSON arrays as TEXT.

-- A message whose outcome must be checked with Plivo has reconcile_from set: the end of the unknown
-- attempt (or the expiry of a dead process's lease), from which RECONCILE_SETTLE_SECONDS count.
ALTER TABLE messages ADD COLUMN reconcile_from BIGINT;
-- The next look after a postponed or ambiguous one, and how many ambiguous answers came so far.
ALTER TABLE messages ADD COLUMN reconcile_next BIGINT;
ALTER TABLE messages ADD COLUMN reconcile_tries BIGINT NOT NULL DEFAULT 0;
-- Held by the instance checking it, so two instances never check one message at once.
ALTER TABLE messages ADD COLUMN reconcile_lease BIGINT;
-- When the first attempt to send it started (the list query looks from 60 s before).
ALTER TABLE messages ADD COLUMN first_attempt_at BIGINT;
-- Further messages Plivo holds for this one (a JSON array), after a retried synchronous send.
ALTER TABLE messages ADD COLUMN duplicate_uuids TEXT;
-- PLIVO_LOG as sent; NULL means 'true'.
ALTER TABLE messages ADD COLUMN plivo_log TEXT;
-- Missing receipts: when to look the message up next, and how many lookups were made.
ALTER TABLE messages ADD COLUMN receipt_check_at BIGINT;
ALTER TABLE messages ADD COLUMN receipt_checks BIGINT NOT NULL DEFAULT 0;

CREATE INDEX messages_reconcile_idx ON messages (reconcile_from) WHERE reconcile_from IS NOT NULL;
CREATE INDEX messages_receipt_idx ON messages (receipt_check_at) WHERE receipt_check_at IS NOT NULL;

-- Status callbacks that arrived before their message took the UUID; applied when it does.
CREATE TABLE early_callbacks (
    message_uuid TEXT NOT NULL,
    status       TEXT NOT NULL,
    error_code   TEXT,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (message_uuid, status)
);

CREATE INDEX early_callbacks_received_idx ON early_callbacks (received_at);

-- List Message requests of the last minute, all instances together (RECONCILE_MAX_PER_MINUTE).
CREATE TABLE reconcile_list_requests (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);

CREATE INDEX reconcile_list_requests_at_idx ON reconcile_list_requests (at);

-- One row: updating it first makes concurrent budget checks on PostgreSQL take turns.
CREATE TABLE reconcile_budget_lock (
    id    BIGINT PRIMARY KEY,
    taken BIGINT NOT NULL
);

INSERT INTO reconcile_budget_lock (id, taken) VALUES (1, 0);
