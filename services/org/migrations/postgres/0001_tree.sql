-- The organisation tree as a materialised path: `path` is '/<root id>/…/<own id>/', so a
-- subtree is one index range scan and a unit's ancestry is read off its own row. The C
-- collation makes the range byte-wise.
CREATE TABLE org_units (
    id         TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES org_units (id),
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    code       TEXT,
    status     TEXT NOT NULL,
    path       TEXT COLLATE "C" NOT NULL,
    depth      BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX org_units_path ON org_units (path);
CREATE INDEX org_units_children ON org_units (parent_id, name, id);
CREATE UNIQUE INDEX org_units_code ON org_units (code);

-- The district's extensions of the default kind schema.
CREATE TABLE org_kind_rules (
    parent_kind TEXT NOT NULL,
    child_kind  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (parent_kind, child_kind)
);

-- Who changed what, when, in which trace. Ids are UUIDv7, so id order is time order.
CREATE TABLE org_audit (
    id        TEXT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target_id TEXT NOT NULL,
    details   TEXT NOT NULL,
    trace_id  TEXT
);
CREATE INDEX org_audit_target ON org_audit (target_id, id);

-- Idempotency keys of mutations: a retry returns the first call's result.
CREATE TABLE org_requests (
    caller     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    operation   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    affected   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
