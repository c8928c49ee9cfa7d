-- A delivery whose message went out whole but got no reply (a timeout or a
-- dropped connection after the final ".") has an outcome of its own,
-- 'unknown': the relay may have taken it, so it is never retried without
-- send --retry-unknown. SQLite cannot change a CHECK constraint in place,
-- so the ledger is copied into a table that allows the new status. No
-- other table refers to deliveries, so the rebuild is safe with foreign
-- keys on.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    edition_id      INTEGER NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'deferred', 'failed', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    message_id      TEXT    NOT NULL DEFAULT '',
    last_code       INTEGER NOT NULL DEFAULT 0,
    last_reply      TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    UNIQUE (edition_id, subscriber_id)
);
INSERT INTO deliveries_new (id, edition_id, subscriber_id, status, attempts, next_attempt_at, message_id, last_code, last_reply, updated_at)
    SELECT id, edition_id, subscriber_id, status, attempts, next_attempt_at, message_id, last_code, last_reply, updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);
