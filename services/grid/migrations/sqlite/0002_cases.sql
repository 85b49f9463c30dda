-- Grid issues (cases). The owning org's path makes a subtree's cases one index range; the step's
-- due time is what the overdue scanner reads. escalated_org_id is the org the case has climbed
-- to (the owner until it is first overdue).
CREATE TABLE grid_cases (
    id               TEXT PRIMARY KEY,
    category_code    TEXT NOT NULL,
    urgency          TEXT NOT NULL,
    description      TEXT NOT NULL,
    attributes       TEXT NOT NULL,
    latitude         REAL,
    longitude        REAL,
    address          TEXT NOT NULL,
    grid_id          TEXT,
    owner_org_id     TEXT NOT NULL,
    org_path         TEXT NOT NULL,
    reporter_kind    TEXT NOT NULL,
    reporter         TEXT NOT NULL,
    source           TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    attachments      TEXT NOT NULL,
    state            TEXT NOT NULL,
    handler_org_id   TEXT NOT NULL,
    handled_by       TEXT NOT NULL,
    step_started_at  BIGINT,
    step_due_at      BIGINT,
    overall_due_at   BIGINT,
    paused_at        BIGINT,
    escalation_level INTEGER NOT NULL,
    escalated_org_id TEXT NOT NULL,
    satisfaction     INTEGER,
    evaluation       TEXT NOT NULL,
    duplicate_of     TEXT,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    closed_at        BIGINT
);
-- Another system's report is taken once per its own id.
CREATE UNIQUE INDEX grid_cases_external ON grid_cases (source, external_id) WHERE external_id <> '';
CREATE INDEX grid_cases_subtree ON grid_cases (org_path, state);
CREATE INDEX grid_cases_due ON grid_cases (step_due_at) WHERE step_due_at IS NOT NULL;
CREATE INDEX grid_cases_grid ON grid_cases (grid_id, created_at);
CREATE INDEX grid_cases_reporter ON grid_cases (reporter, created_at);
CREATE INDEX grid_cases_nearby ON grid_cases (category_code, created_at);

-- Every transition of a case: who, when, why, in which trace.
CREATE TABLE grid_case_history (
    case_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    action     TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    note       TEXT NOT NULL,
    -- JSON array of evidence URLs.
    evidence   TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    trace_id   TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- Returns, extensions, deferrals and backlog entries wait here for the level above.
CREATE TABLE grid_case_requests (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    minutes       BIGINT,
    until_at      BIGINT,
    state         TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    decided_by    TEXT NOT NULL,
    decision_note TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    decided_at    BIGINT
);
-- At most one request waits per case.
CREATE UNIQUE INDEX grid_case_requests_pending ON grid_case_requests (case_id) WHERE state = 'pending';
CREATE INDEX grid_case_requests_case ON grid_case_requests (case_id, requested_at);

-- Retried reports return the first case.
CREATE TABLE grid_request_ids (
    caller     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    case_id    TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
