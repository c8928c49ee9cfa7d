-- Issue 10: nothing an editor sets up is silently lost.
--
-- A story may carry a byline from the CMS export (its picture goes to
-- stories.image, which migration 0020 adds for feeds and imports alike).
ALTER TABLE stories ADD COLUMN byline TEXT NOT NULL DEFAULT '';

-- A story stays eligible for a list's editions until it is older than the
-- list's max_age (seconds), counted from the later of its publication and
-- the time it was stored (default 48 hours).
ALTER TABLE lists ADD COLUMN max_age INTEGER NOT NULL DEFAULT 172800 CHECK (max_age > 0);

-- The eligibility query (digest/select.go) walks stories by that later
-- time, and pinned stories whatever their age; both keep the walk to the
-- young end of the table however long the history grows.
CREATE INDEX stories_available ON stories (max(published_at, created_at));
CREATE INDEX stories_pinned ON stories (pinned) WHERE pinned = 1;
