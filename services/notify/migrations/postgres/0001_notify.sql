-- Categories with their templates; a critical category cannot be muted.
CREATE TABLE notify_categories (
    name           TEXT PRIMARY KEY,
    title_template TEXT NOT NULL,
    body_template  TEXT NOT NULL,
    variables      TEXT NOT NULL,
    critical       INTEGER NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- One row per published notification; the key makes a repeated publish a no-op.
CREATE TABLE notify_notifications (
    id              TEXT PRIMARY KEY,
    publisher       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    category        TEXT NOT NULL,
    priority        TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    link            TEXT NOT NULL,
    data            TEXT NOT NULL,
    delivered_count BIGINT NOT NULL,
    source_event_id TEXT,
    trace_id        TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (publisher, idempotency_key)
);

-- Inbox items. `seq` is the stream cursor: it is allocated under the inbox lock and committed in
-- order, so a reader that has seen seq N never later finds an item below N.
CREATE TABLE notify_inbox (
    seq             BIGSERIAL PRIMARY KEY,
    recipient       TEXT NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notify_notifications (id),
    delivered_at    BIGINT NOT NULL,
    read_at         BIGINT,
    archived_at     BIGINT,
    UNIQUE (recipient, notification_id)
);
CREATE INDEX notify_inbox_recipient ON notify_inbox (recipient, seq);

CREATE TABLE notify_preferences (
    recipient TEXT NOT NULL,
    category  TEXT NOT NULL,
    channel   TEXT NOT NULL,
    enabled   INTEGER NOT NULL,
    PRIMARY KEY (recipient, category, channel)
);

CREATE TABLE notify_topic_followers (
    topic     TEXT NOT NULL,
    recipient TEXT NOT NULL,
    PRIMARY KEY (topic, recipient)
);
