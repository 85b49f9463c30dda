-- Points rules, versioned: an entry names the version it used.
CREATE TABLE member_points_rules (
    code              TEXT NOT NULL,
    version           BIGINT NOT NULL,
    name              TEXT NOT NULL,
    points            BIGINT NOT NULL,
    evidence_required INTEGER NOT NULL,
    approval_required INTEGER NOT NULL,
    daily_cap         BIGINT,
    monthly_cap       BIGINT,
    yearly_cap        BIGINT,
    valid_from        BIGINT NOT NULL,
    valid_to          BIGINT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (code, version)
);

-- The ledger: append-only; ids are chosen by clients; a correction is a new entry that names
-- the one it reverses (once).
CREATE TABLE member_ledger (
    id              TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES member_members (id),
    kind            TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    rule_code       TEXT,
    rule_version    BIGINT,
    reason          TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    source_event_id TEXT NOT NULL,
    state           TEXT NOT NULL,
    reverses        TEXT UNIQUE REFERENCES member_ledger (id),
    year            BIGINT NOT NULL,
    month           TEXT NOT NULL,
    day             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    actor           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT
);
CREATE INDEX member_ledger_member ON member_ledger (member_id, created_at);
CREATE INDEX member_ledger_caps ON member_ledger (member_id, rule_code, day);

-- Approved points per member and year, kept with every entry that changes them.
CREATE TABLE member_balances (
    member_id TEXT NOT NULL,
    year      BIGINT NOT NULL,
    balance   BIGINT NOT NULL,
    PRIMARY KEY (member_id, year)
);
CREATE INDEX member_balances_year ON member_balances (year, balance);
