-- Leases now also guard each list's sending (digest send and digest serve
-- share them), so a row says who holds it in a way an operator can act on:
-- the process id and host (a holder on this host whose process is gone is
-- taken over at once), when it was taken and what it covers. token tells
-- two holders with the same name apart (two runs of one process).
ALTER TABLE leases ADD COLUMN token       TEXT    NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN pid         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN host        TEXT    NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN acquired_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN note        TEXT    NOT NULL DEFAULT '';
