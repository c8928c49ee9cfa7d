-- What happens after the send (issue 15): bounces, complaints,
-- unsubscribes by mail, suppressions and aggregate clicks.

-- Per list: where bounces go (empty: the global bounce_address, or none),
-- whether story links count clicks, and whether clicks lift a story.
ALTER TABLE lists ADD COLUMN bounce_address TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN click_tracking TEXT NOT NULL DEFAULT 'off' CHECK (click_tracking IN ('off', 'aggregate'));
ALTER TABLE lists ADD COLUMN rank_by_clicks INTEGER NOT NULL DEFAULT 0;

-- Random keys generated once (the VERP and redirect HMACs); a configured
-- bounce_secret takes precedence and is never stored.
CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Addresses that must never be mailed, whatever their memberships say.
-- Kept when a subscriber is erased: that is what a suppression is for.
CREATE TABLE suppressions (
    email      TEXT    PRIMARY KEY COLLATE NOCASE,
    reason     TEXT    NOT NULL CHECK (reason IN ('complaint', 'hard-bounce', 'manual', 'legal', 'import')),
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- One row per bounce, complaint or unsubscribe learnt after the send.
-- event_key makes processing idempotent (the same DSN or webhook event
-- twice is one row); subscriber_id is set to NULL on erasure so that an
-- edition's figures stay while the person is gone.
CREATE TABLE feedback_events (
    id            INTEGER PRIMARY KEY,
    event_key     TEXT    UNIQUE,
    source        TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'unsubscribe')),
    method        TEXT    NOT NULL DEFAULT '',
    list_id       INTEGER REFERENCES lists (id) ON DELETE CASCADE,
    edition_id    INTEGER REFERENCES editions (id) ON DELETE SET NULL,
    subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
    status        TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);
CREATE INDEX feedback_events_edition ON feedback_events (edition_id, kind);
CREATE INDEX feedback_events_subscriber ON feedback_events (subscriber_id, kind);

-- Aggregate clicks: a count per edition and story, no subscriber.
CREATE TABLE story_clicks (
    edition_id INTEGER NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    story_id   INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    clicks     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (edition_id, story_id)
);
CREATE INDEX story_clicks_story ON story_clicks (story_id);

-- Counters that must survive restarts and have no other record (manual
-- send runs, webhook failures): read by /metrics.
CREATE TABLE counters (
    name  TEXT    NOT NULL,
    label TEXT    NOT NULL DEFAULT '',
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, label)
);
