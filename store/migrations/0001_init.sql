-- Sections group stories; display_order and max_stories shape the edition.
CREATE TABLE sections (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (name <> ''),
    title         TEXT    NOT NULL DEFAULT '',
    display_order INTEGER NOT NULL DEFAULT 0,
    max_stories   INTEGER NOT NULL DEFAULT 3 CHECK (max_stories >= 0),
    created_at    INTEGER NOT NULL
);

-- Times are Unix seconds (UTC) throughout the schema.
CREATE TABLE stories (
    id           INTEGER PRIMARY KEY,
    section_id   INTEGER NOT NULL REFERENCES sections (id),
    title        TEXT    NOT NULL CHECK (title <> ''),
    url          TEXT    NOT NULL UNIQUE,
    teaser       TEXT    NOT NULL DEFAULT '',
    published_at INTEGER NOT NULL,
    score        REAL    NOT NULL DEFAULT 0,
    pinned       INTEGER NOT NULL DEFAULT 0,
    hidden       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX stories_published_at ON stories (published_at);
CREATE INDEX stories_section ON stories (section_id);

-- Lists are the newsletters. sections is a comma-separated filter (empty: all).
CREATE TABLE lists (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    title          TEXT    NOT NULL DEFAULT '',
    from_addr      TEXT    NOT NULL,
    postal_address TEXT    NOT NULL DEFAULT '',
    subject_prefix TEXT    NOT NULL DEFAULT '',
    sections       TEXT    NOT NULL DEFAULT '',
    schedule       TEXT    NOT NULL DEFAULT '0 6 * * *',
    timezone       TEXT    NOT NULL DEFAULT 'UTC',
    language       TEXT    NOT NULL DEFAULT 'en',
    direction      TEXT    NOT NULL DEFAULT 'ltr' CHECK (direction IN ('ltr', 'rtl')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

INSERT INTO lists (name, title, from_addr, postal_address, created_at, updated_at)
VALUES ('daily', 'The Daily Digest', 'The Daily Digest <digest@example.com>',
        'The Daily Digest, 1 Newsroom Street, Springfield', unixepoch(), unixepoch());

-- The unsubscribe token is random and unrelated to the address.
CREATE TABLE subscribers (
    id         INTEGER PRIMARY KEY,
    email      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name       TEXT    NOT NULL DEFAULT '',
    attributes TEXT    NOT NULL DEFAULT '{}',
    token      TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    list_id       INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed', 'bounced')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (list_id, subscriber_id)
);
CREATE INDEX memberships_subscriber ON memberships (subscriber_id);

-- An edition is rendered once and stored, so that a resend, a resume or a
-- preview shows exactly the same message. date is the list's local date.
CREATE TABLE editions (
    id           INTEGER PRIMARY KEY,
    list_id      INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    date         TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    subject      TEXT    NOT NULL,
    preheader    TEXT    NOT NULL DEFAULT '',
    html         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (list_id, date)
);

-- kind is 'lead' for a section block story and 'more' for the headline list.
CREATE TABLE edition_stories (
    edition_id INTEGER NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    story_id   INTEGER NOT NULL REFERENCES stories (id),
    position   INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('lead', 'more')),
    PRIMARY KEY (edition_id, story_id)
);
CREATE INDEX edition_stories_story ON edition_stories (story_id);

-- The delivery ledger: one row per edition and subscriber.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    edition_id      INTEGER NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'deferred', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    message_id      TEXT    NOT NULL DEFAULT '',
    last_code       INTEGER NOT NULL DEFAULT 0,
    last_reply      TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    UNIQUE (edition_id, subscriber_id)
);
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);
