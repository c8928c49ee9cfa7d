-- Public sign-up with double opt-in, consent records and reader
-- preferences (issue 14).

-- signup: open lists accept sign-ups at /subscribe/NAME, closed ones
-- answer 404. weekly_day is the day (0 Sunday .. 6 Saturday) weekly
-- readers get the week's edition, at the list's scheduled time.
ALTER TABLE lists ADD COLUMN signup     TEXT    NOT NULL DEFAULT 'open' CHECK (signup IN ('open', 'closed'));
ALTER TABLE lists ADD COLUMN weekly_day INTEGER NOT NULL DEFAULT 1 CHECK (weekly_day BETWEEN 0 AND 6);

-- A reader's choices per membership: sections ('' = every section of the
-- list, else a sorted, lower-case, comma-separated set), daily or weekly,
-- and a pause until a local date ('' = not paused; nothing is sent for
-- editions dated before it).
ALTER TABLE memberships ADD COLUMN sections     TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN frequency    TEXT NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily', 'weekly'));
ALTER TABLE memberships ADD COLUMN paused_until TEXT NOT NULL DEFAULT '';

-- The preference page's token: like the unsubscribe token it is in every
-- message, so it is kept as it is (links are built at send time) and
-- looked up by prefix then compared in constant time. Every insert path
-- (add, import, confirm, and any later one) gets one from the trigger, so
-- no writer can forget it; SQLite's randomblob is seeded from the OS.
ALTER TABLE subscribers ADD COLUMN pref_token TEXT NOT NULL DEFAULT '';
UPDATE subscribers SET pref_token = lower(hex(randomblob(32))) WHERE pref_token = '';
CREATE TRIGGER subscribers_pref_token AFTER INSERT ON subscribers WHEN NEW.pref_token = ''
BEGIN
    UPDATE subscribers SET pref_token = lower(hex(randomblob(32))) WHERE id = NEW.id;
END;
CREATE INDEX subscribers_pref_token_prefix ON subscribers (substr(pref_token, 1, 8));

-- A pending sign-up: one row per confirmation mail sent. Not a
-- membership: the address is on no list until the link's POST. The
-- token is stored as its SHA-256 only. The rows also count the
-- confirmations sent to an address (at most one per 10 minutes, three a
-- day), so they are kept until they expire, then deleted.
CREATE TABLE signups (
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL COLLATE NOCASE,
    name            TEXT    NOT NULL DEFAULT '',
    list_id         INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    sections        TEXT    NOT NULL DEFAULT '',
    source          TEXT    NOT NULL,
    consent_version TEXT    NOT NULL DEFAULT '',
    token_hash      TEXT    NOT NULL UNIQUE,
    ip              TEXT    NOT NULL DEFAULT '',
    user_agent      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE INDEX signups_email ON signups (email, created_at);

-- Consent records: every change of a membership, with where it came
-- from. list is kept by name so the record outlives a deleted list; the
-- person's records go with the person (erasure).
CREATE TABLE consent_events (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list            TEXT    NOT NULL DEFAULT '',
    action          TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('form', 'api', 'cli', 'import', 'one-click', 'preferences')),
    consent_version TEXT    NOT NULL DEFAULT '',
    detail          TEXT    NOT NULL DEFAULT '',
    ip              TEXT    NOT NULL DEFAULT '',
    user_agent      TEXT    NOT NULL DEFAULT '',
    at              INTEGER NOT NULL
);
CREATE INDEX consent_events_subscriber ON consent_events (subscriber_id, at);

-- Composed variants of an edition: one per distinct (frequency, section
-- set) its readers chose, other than the edition itself (daily, every
-- section). Stored so that a resume, the preview and the archive show
-- exactly what was sent. story_ids is a JSON array, leads how many of
-- them are section-block stories.
CREATE TABLE edition_variants (
    edition_id INTEGER NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    frequency  TEXT    NOT NULL,
    sections   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    preheader  TEXT    NOT NULL DEFAULT '',
    html       TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    story_ids  TEXT    NOT NULL DEFAULT '[]',
    leads      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (edition_id, frequency, sections)
);

-- The key that signs the sign-up form's render time and the preference
-- page's CSRF tokens: made once per database, never printed.
CREATE TABLE web_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
