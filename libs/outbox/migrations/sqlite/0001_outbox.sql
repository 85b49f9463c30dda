-- Events written in the same transaction as the change that caused them. An event waits here,
-- unrouted, until a consumer of its type is configured; nothing is dropped.
CREATE TABLE outbox_events (
    event_id   TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    routed_at  BIGINT
);
CREATE INDEX outbox_events_unrouted ON outbox_events (event_type, created_at) WHERE routed_at IS NULL;

-- One delivery per routed event and consumer: the relay's work list.
CREATE TABLE outbox_deliveries (
    event_id     TEXT NOT NULL REFERENCES outbox_events (event_id),
    destination  TEXT NOT NULL,
    available_at BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    attempts     BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'pending',
    last_error   TEXT,
    done_at      BIGINT,
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (state, available_at);

-- Events this service has consumed: the consumer's half of exactly-once effects.
CREATE TABLE inbox_events (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);
