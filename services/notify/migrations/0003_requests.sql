-- Request ids, in the shape every service keeps them (jiceng_db::RequestIds): a retried
-- registration of a webhook returns the first one instead of registering another.
CREATE TABLE notify_requests (
    caller      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    affected    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
