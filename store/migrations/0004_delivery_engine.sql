-- Permanent failures per subscriber, across editions and lists, for the
-- delivery engine's bounce rule: a subscriber whose address was refused
-- this many times in a row (a delivery the server accepts resets it) is
-- marked bounced. Kept apart from the deliveries ledger so that deleting
-- old editions does not forget a bad address.
CREATE TABLE subscriber_bounces (
    subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_code     INTEGER NOT NULL DEFAULT 0,
    last_reply    TEXT    NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL
);
