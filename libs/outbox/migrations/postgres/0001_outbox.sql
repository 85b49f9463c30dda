-- Events waiting to be relayed, one row per event and destination. Written in the same
-- transaction as the change that caused them.
CREATE TABLE outbox_events (
    event_id     TEXT NOT NULL,
    destination  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    payload      BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    available_at BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'pending',
    last_error   TEXT,
    done_at      BIGINT,
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX outbox_events_due ON outbox_events (state, available_at);

-- Events this service has consumed: the consumer's half of exactly-once effects.
CREATE TABLE inbox_events (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);
