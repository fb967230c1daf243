-- Files uploaded to Plivo's Media API for a message (multipart POST /send-mms, send --file):
-- name, type, size and media id of each, in the order they were sent. Deleted with the message.

CREATE TABLE message_uploads (
    message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position     BIGINT NOT NULL,
    media_id     TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    PRIMARY KEY (message_id, position)
);
