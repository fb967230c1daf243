-- Replies and opt-outs. Same dialect as the first migration.
--
-- Inbound messages live in `messages` (direction 'inbound'), so the events that forward them to
-- INBOUND_CALLBACK_URL are rows of `callback_events` like status events (whose message_id must name a
-- message). For an inbound row the two number columns name the remote party and this service's number,
-- as they do for an outbound one: recipient_number holds the sender (`From`) and sender_number the
-- number it wrote to (`To`). So the recipientNumber filter and its index, and redaction, apply to both
-- directions unchanged. Inbound rows are final ('delivered') from the start: no status callback or
-- delivery worker ever touches them.
ALTER TABLE messages ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound';

-- Listing inbound messages, and storing each one once (by Plivo's MessageUUID). Outbound inserts pay
-- for neither index.
CREATE INDEX messages_inbound_idx ON messages (created_at, id) WHERE direction = 'inbound';
CREATE UNIQUE INDEX messages_inbound_uuid_idx ON messages (message_uuid) WHERE direction = 'inbound';

-- Caller events carry a kind: 'status' (posted to the message's callback_url, built from the row) or
-- 'inbound' (posted to target_url with the stored payload). Inbound events go out one at a time in
-- order of receipt.
ALTER TABLE callback_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'status';
ALTER TABLE callback_events ADD COLUMN target_url TEXT;
ALTER TABLE callback_events ADD COLUMN payload TEXT;
CREATE INDEX callback_events_inbound_idx ON callback_events (occurred_at, event_id)
    WHERE kind = 'inbound' AND next_attempt_at IS NOT NULL;

-- The opt-out list: one row per opted-out number (E.164), with the source and time of the latest
-- opt-out; and every change of every number.
CREATE TABLE opt_outs (
    number TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    at     BIGINT NOT NULL
);

CREATE INDEX opt_outs_at_idx ON opt_outs (at, number);

CREATE TABLE opt_out_history (
    id     TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('optout', 'optin')),
    source TEXT NOT NULL,
    at     BIGINT NOT NULL
);

CREATE INDEX opt_out_history_number_idx ON opt_out_history (number, at, id);
