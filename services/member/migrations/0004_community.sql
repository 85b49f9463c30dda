-- Dual registration: members registered with the residential community where they live.
CREATE TABLE member_community_registrations (
    id               TEXT PRIMARY KEY,
    member_id        TEXT NOT NULL REFERENCES member_members (id),
    community_org_id TEXT NOT NULL,
    registered_at    BIGINT NOT NULL,
    UNIQUE (member_id, community_org_id)
);
CREATE INDEX member_community_registrations_community ON member_community_registrations (community_org_id);

-- Service given in the community, as logged by it.
CREATE TABLE member_service_logs (
    id              TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL REFERENCES member_community_registrations (id),
    minutes         BIGINT NOT NULL,
    service_date    TEXT NOT NULL,
    description     TEXT NOT NULL,
    logged_by       TEXT NOT NULL,
    logged_at       BIGINT NOT NULL
);
CREATE INDEX member_service_logs_registration ON member_service_logs (registration_id);

-- Pledges: open, fulfilled with evidence, confirmed by the branch.
CREATE TABLE member_commitments (
    id                TEXT PRIMARY KEY,
    member_id         TEXT NOT NULL REFERENCES member_members (id),
    text              TEXT NOT NULL,
    due_date          TEXT NOT NULL,
    state             TEXT NOT NULL,
    evidence          TEXT NOT NULL DEFAULT '',
    confirmation_note TEXT NOT NULL DEFAULT '',
    published_at      BIGINT NOT NULL
);
CREATE INDEX member_commitments_due ON member_commitments (state, due_date);
CREATE INDEX member_commitments_member ON member_commitments (member_id);
