-- Property companies, registered with a town or street: its path makes a subtree's companies
-- one index range.
CREATE TABLE property_companies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL,
    org_path    TEXT COLLATE "C" NOT NULL,
    -- JSON: certificates, staff (phones sealed and masked), hotlines, procedures, discipline.
    details     TEXT NOT NULL,
    -- JSON array of the subjects who publish for the company.
    publishers  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX property_companies_subtree ON property_companies (org_path, created_at);

-- Compounds (小区) of residential committees, with the company managing each now.
CREATE TABLE property_compounds (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    address          TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    org_path         TEXT COLLATE "C" NOT NULL,
    company_id       TEXT NOT NULL,
    owners_committee TEXT NOT NULL,
    owners_chair     TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX property_compounds_subtree ON property_compounds (org_path, created_at);
CREATE INDEX property_compounds_company ON property_compounds (company_id, created_at);

-- Which company managed a compound when; the running term has no end.
CREATE TABLE property_terms (
    compound_id TEXT NOT NULL,
    company_id  TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT,
    PRIMARY KEY (compound_id, start_at)
);

-- Retried creations and publications return the first result.
CREATE TABLE property_request_ids (
    caller     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
);

-- Published disclosures. entry is the log entry exactly as hashed (the disclosure's JSON);
-- the other columns repeat what lists filter on. Nothing here is updated but the link to a
-- correction.
CREATE TABLE property_disclosures (
    id               TEXT PRIMARY KEY,
    leaf_index       BIGINT NOT NULL UNIQUE,
    compound_id      TEXT NOT NULL,
    company_id       TEXT NOT NULL,
    org_path         TEXT COLLATE "C" NOT NULL,
    kind             TEXT NOT NULL,
    period           TEXT NOT NULL,
    entry            TEXT NOT NULL,
    supersedes_id    TEXT,
    superseded_by_id TEXT,
    published_at     BIGINT NOT NULL
);
CREATE INDEX property_disclosures_compound ON property_disclosures (compound_id, published_at);
CREATE INDEX property_disclosures_subtree ON property_disclosures (org_path, published_at);
CREATE INDEX property_disclosures_due ON property_disclosures (compound_id, kind, period);
-- A disclosure is corrected once; a further correction corrects the correction.
CREATE UNIQUE INDEX property_disclosures_supersedes ON property_disclosures (supersedes_id)
    WHERE supersedes_id IS NOT NULL;

-- The district's transparency log (RFC 6962): the hash of every complete subtree, 2^level
-- leaves from idx * 2^level, in hex.
CREATE TABLE property_log_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The signed head of every size the log reached.
CREATE TABLE property_log_heads (
    size      BIGINT PRIMARY KEY,
    root      TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    signature TEXT NOT NULL
);
