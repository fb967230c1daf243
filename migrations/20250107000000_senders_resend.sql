-- Sender pool and per-sender pacing, resends, and caller events that gave up. Same dialect as the
-- first migration.

-- Per-sender pacing (GCRA): the "theoretical arrival time" of the next free slot of each sender,
-- shared by every instance on the database. A reservation moves it forward atomically.
CREATE TABLE sender_pacing (
    sender TEXT PRIMARY KEY,
    tat    BIGINT NOT NULL
);

-- A message waiting in the outbox for the slot it reserved (unix microseconds); NULL otherwise.
ALTER TABLE messages ADD COLUMN sender_slot_at BIGINT;

-- A resend points at the message it repeats.
ALTER TABLE messages ADD COLUMN resend_of TEXT;
CREATE INDEX messages_resend_of_idx ON messages (resend_of) WHERE resend_of IS NOT NULL;

-- A status event whose retry window ran out, and the start of its current window (NULL: its
-- occurred_at); POST /callbacks/redeliver starts a new one.
ALTER TABLE callback_events ADD COLUMN exhausted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE callback_events ADD COLUMN window_start BIGINT;
CREATE INDEX callback_events_exhausted_idx ON callback_events (occurred_at) WHERE exhausted = 1;
