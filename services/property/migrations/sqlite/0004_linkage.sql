-- Three-party linkage: joint meetings of a compound's residents' committee, owners' committee
-- and company, and their decisions.
CREATE TABLE property_meetings (
    id           TEXT PRIMARY KEY,
    compound_id  TEXT NOT NULL,
    title        TEXT NOT NULL,
    agenda       TEXT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    held_at      BIGINT,
    -- JSON array of {party, name}.
    attendees    TEXT NOT NULL,
    minutes      TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX property_meetings_compound ON property_meetings (compound_id, scheduled_at);

CREATE TABLE property_decisions (
    id         TEXT PRIMARY KEY,
    meeting_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    text       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    due_at     BIGINT,
    state      TEXT NOT NULL,
    follow_up  TEXT NOT NULL
);
CREATE INDEX property_decisions_meeting ON property_decisions (meeting_id, seq);

-- A town's assessments of its companies, their scores, and the orders that follow.
CREATE TABLE property_assessments (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    org_path   TEXT NOT NULL,
    period     TEXT NOT NULL,
    -- JSON array of {code, name, weight}.
    criteria   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, period)
);

CREATE TABLE property_scores (
    assessment_id TEXT NOT NULL,
    company_id    TEXT NOT NULL,
    -- JSON object of criterion code → 0..100.
    scores        TEXT NOT NULL,
    -- The weighted total in hundredths (0 to 10000).
    total         BIGINT NOT NULL,
    comment       TEXT NOT NULL,
    scored_by     TEXT NOT NULL,
    scored_at     BIGINT NOT NULL,
    PRIMARY KEY (assessment_id, company_id)
);
CREATE INDEX property_scores_ranking ON property_scores (assessment_id, total);

CREATE TABLE property_orders (
    id            TEXT PRIMARY KEY,
    assessment_id TEXT NOT NULL,
    company_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    text          TEXT NOT NULL,
    due_at        BIGINT,
    issued_by     TEXT NOT NULL,
    issued_at     BIGINT NOT NULL
);
CREATE INDEX property_orders_company ON property_orders (company_id, issued_at);
CREATE INDEX property_orders_assessment ON property_orders (assessment_id, issued_at);
