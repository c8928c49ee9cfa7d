-- Migration 0051's partial index (stories_window, WHERE hidden = 0) served
-- the selection query of its day. Selection now reads by availability
-- (stories_available, stories_pinned) and no statement on stories says
-- hidden = 0, so SQLite can never use a partial index on it: the query
-- plans of digest/select.go's eligibleQuery (TestEligibleQueryUsesIndexes)
-- name only stories_available, stories_pinned and edition_stories_story.
-- Measured at 1,000,000 stories (BenchmarkSelectCompose1M's store) it held
-- 48 MB of the 342 MB file, written on every story insert for nothing.
DROP INDEX IF EXISTS stories_window;
