-- Feeds digest polls (digest feeds add). kind 'rss' covers RSS, Atom and
-- JSON Feed (told apart by content); 'sitemap' is a Google News sitemap or
-- a sitemap index. every is the poll interval in seconds, 0 for the
-- adaptive schedule. etag and last_modified are the validators of the
-- last 200 answer, sent back as If-None-Match and If-Modified-Since.
CREATE TABLE feeds (
    id             INTEGER PRIMARY KEY,
    url            TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL DEFAULT '',
    kind           TEXT    NOT NULL DEFAULT 'rss' CHECK (kind IN ('rss', 'sitemap')),
    section        TEXT    NOT NULL DEFAULT '',
    category_map   TEXT    NOT NULL DEFAULT '',
    every          INTEGER NOT NULL DEFAULT 0 CHECK (every >= 0),
    enrich         INTEGER NOT NULL DEFAULT 0,
    allow_private  INTEGER NOT NULL DEFAULT 0,
    etag           TEXT    NOT NULL DEFAULT '',
    last_modified  TEXT    NOT NULL DEFAULT '',
    last_fetch_at  INTEGER NOT NULL DEFAULT 0,
    last_status    INTEGER NOT NULL DEFAULT 0,
    next_fetch_at  INTEGER NOT NULL DEFAULT 0,
    errors         INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX feeds_next_fetch ON feeds (next_fetch_at);

-- Item identity: which story a feed's item became. item_key is
-- 'guid:...', 'url:...' (canonical URL) or 'hash:...' (title and date);
-- digest is a hash of what the item said last time, so an unchanged item
-- costs no write. The same article in two feeds has one row per feed and
-- one story.
CREATE TABLE feed_items (
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key      TEXT    NOT NULL,
    story_id      INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL DEFAULT '',
    enriched      INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (feed_id, item_key)
);
CREATE INDEX feed_items_story ON feed_items (story_id);

-- The image a feed gives a story (media:content, enclosure, itunes:image,
-- og:image); empty when none.
ALTER TABLE stories ADD COLUMN image TEXT NOT NULL DEFAULT '';

-- Bearer tokens of the push API (digest tokens create). Only a SHA-256 of
-- the token is stored: the token itself is printed once.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    hash         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0
);
