-- Micro-wishes. The resident's name and phone are stored sealed, with their masks for lists;
-- the collecting org's path makes a subtree's wishes one index range.
CREATE TABLE grid_wishes (
    id                   TEXT PRIMARY KEY,
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    beneficiary_sealed   TEXT NOT NULL,
    beneficiary_masked   TEXT NOT NULL,
    phone_sealed         TEXT,
    phone_masked         TEXT NOT NULL,
    org_id               TEXT NOT NULL,
    org_path             TEXT COLLATE "C" NOT NULL,
    state                TEXT NOT NULL,
    claimant_org_id      TEXT NOT NULL,
    claimant_member_id   TEXT NOT NULL,
    -- JSON arrays.
    participants         TEXT NOT NULL,
    evidence             TEXT NOT NULL,
    follow_up_note       TEXT NOT NULL,
    claim_by             BIGINT,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    fulfilled_at         BIGINT
);
CREATE INDEX grid_wishes_subtree ON grid_wishes (org_path, created_at);
CREATE INDEX grid_wishes_state ON grid_wishes (state, created_at);

-- Retried collections return the first wish.
CREATE TABLE grid_wish_requests (
    caller     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    wish_id    TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
