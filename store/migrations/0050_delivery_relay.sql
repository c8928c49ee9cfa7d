-- Several relays (issue 16): each delivery records the relay of its last
-- attempt, host:port, the one that accepted the message when it was sent.
-- Empty for the outbox and for deliveries made before this migration.
ALTER TABLE deliveries ADD COLUMN relay TEXT NOT NULL DEFAULT '';
