-- The daemon (digest serve). A lease row names the one process allowed to
-- send; it must renew before expires_at (Unix milliseconds) or another
-- process may take it over.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One scheduled run per list and local date: a schedule that fires twice
-- on one date (the autumn's repeated hour, a catch-up after a restart)
-- finds the row and sends nothing again. outcome 'running' or
-- 'interrupted' is resumed by catch-up within the grace period.
CREATE TABLE schedule_runs (
    list_id     INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    date        TEXT    NOT NULL,
    fire_at     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'sent', 'nothing_new', 'skipped', 'interrupted', 'failed', 'deferred')),
    edition_id  INTEGER REFERENCES editions (id) ON DELETE SET NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    deferred    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    holder      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (list_id, date)
);

-- Unsubscribe links are looked up by the first 8 characters of the token
-- and then compared in full in constant time (subscribers/tokens.go), so
-- the index walk can leak at most those 48 of the token's 256 bits.
CREATE INDEX subscribers_token_prefix ON subscribers (substr(token, 1, 8));
