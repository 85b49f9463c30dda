-- Events about one subject (the aggregate they concern) reach each consumer in the order they
-- were written: `seq` orders the events, and a consumer is handed the next delivery of a subject
-- only when the one before it is delivered or parked. Events written before this step keep an
-- empty subject and no order, as before.
ALTER TABLE outbox_events ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE outbox_events SET seq = rowid;
-- SQLite has no sequences: a row's rowid grows with every insert of its one writer at a time.
CREATE TRIGGER outbox_events_seq AFTER INSERT ON outbox_events
BEGIN
    UPDATE outbox_events SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
CREATE INDEX outbox_events_unrouted_seq ON outbox_events (seq) WHERE routed_at IS NULL;

ALTER TABLE outbox_deliveries ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox_deliveries ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_deliveries_subject_pending ON outbox_deliveries (destination, subject, seq)
    WHERE state = 'pending';
