-- Members. Phone and ID-card numbers are stored sealed (and masked for lists); the ID-card
-- number is found through a keyed blind index, never stored in clear.
CREATE TABLE member_members (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    gender         TEXT,
    birth_date     TEXT,
    phone_sealed   TEXT,
    phone_masked   TEXT,
    id_card_sealed TEXT,
    id_card_masked TEXT,
    id_card_index  TEXT UNIQUE,
    join_date      TEXT,
    status         TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX member_members_org ON member_members (org_id, name, id);

-- Every status change, with who approved and recorded it.
CREATE TABLE member_status_history (
    id               TEXT PRIMARY KEY,
    member_id        TEXT NOT NULL REFERENCES member_members (id),
    from_status      TEXT,
    to_status        TEXT NOT NULL,
    effective_date   TEXT NOT NULL,
    approving_org_id TEXT NOT NULL,
    note             TEXT NOT NULL,
    actor            TEXT NOT NULL,
    recorded_at      BIGINT NOT NULL
);
CREATE INDEX member_status_history_member ON member_status_history (member_id, recorded_at);

-- Idempotency keys of creates.
CREATE TABLE member_requests (
    caller      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
