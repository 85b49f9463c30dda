-- Categories with their templates; a critical category cannot be muted.
CREATE TABLE notify_categories (
    name           TEXT PRIMARY KEY,
    title_template TEXT NOT NULL,
    body_template  TEXT NOT NULL,
    variables      TEXT NOT NULL,
    critical       INTEGER NOT NULL,
    digest_window  BIGINT NOT NULL DEFAULT 0,
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

-- Low-priority notifications waiting to be folded into a recipient's digest of their category.
CREATE TABLE notify_digest_pending (
    recipient       TEXT NOT NULL,
    category        TEXT NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notify_notifications (id),
    held_at         BIGINT NOT NULL,
    PRIMARY KEY (recipient, notification_id)
);
CREATE INDEX notify_digest_pending_group ON notify_digest_pending (category, recipient, held_at);

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

-- Endpoints that receive a recipient's notifications, signed with their secret.
CREATE TABLE notify_webhooks (
    id         TEXT PRIMARY KEY,
    recipient  TEXT NOT NULL,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notify_webhooks_recipient ON notify_webhooks (recipient);

-- One delivery per notification and webhook, written with the notification; the worker leases
-- due ones. `traceparent` continues the publishing trace into the POST.
CREATE TABLE notify_deliveries (
    notification_id TEXT NOT NULL REFERENCES notify_notifications (id),
    webhook_id      TEXT NOT NULL REFERENCES notify_webhooks (id),
    recipient       TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    available_at    BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    traceparent     TEXT,
    PRIMARY KEY (notification_id, webhook_id)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, available_at);

CREATE TABLE notify_delivery_attempts (
    notification_id TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    http_status     BIGINT NOT NULL,
    latency_ms      BIGINT NOT NULL,
    error           TEXT NOT NULL
);
CREATE INDEX notify_delivery_attempts_delivery ON notify_delivery_attempts (notification_id, webhook_id, attempted_at);
