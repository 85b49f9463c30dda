-- Moves of a member's organisational relation between orgs, kept as history.
CREATE TABLE member_transfers (
    id            TEXT PRIMARY KEY,
    member_id     TEXT NOT NULL REFERENCES member_members (id),
    from_org_id   TEXT NOT NULL,
    to_org_id     TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    decision_note TEXT NOT NULL DEFAULT '',
    requested_by  TEXT NOT NULL,
    decided_by    TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    decided_at    BIGINT
);
CREATE INDEX member_transfers_member ON member_transfers (member_id, requested_at);
CREATE INDEX member_transfers_pending ON member_transfers (to_org_id, state);
