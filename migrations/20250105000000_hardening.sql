-- Hardening. A used Plivo V2 nonce remembers the message its callback changed and is kept as long
-- as that message: deleting the message deletes the nonce. Nonces linked to no message are
-- forgotten after the store's nonce retention.
ALTER TABLE used_nonces ADD COLUMN message_id TEXT REFERENCES messages (id) ON DELETE CASCADE;
CREATE INDEX used_nonces_message_idx ON used_nonces (message_id) WHERE message_id IS NOT NULL;
