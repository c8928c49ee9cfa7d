-- edited records which fields an editor changed with `digest stories edit`
-- (bits: 1 title, 2 teaser, 4 section, 8 score), so that a later import of
-- the same URL from the newsroom's feed does not undo the editor's work.
ALTER TABLE stories ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
