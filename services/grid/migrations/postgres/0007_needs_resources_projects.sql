-- 清单制: needs posted by communities, resources offered by units and members, and the projects
-- that match one with the other. Each list is read by org subtree, newest first.
CREATE TABLE grid_needs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    org_path    TEXT COLLATE "C" NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    state       TEXT NOT NULL,
    posted_by   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX grid_needs_subtree ON grid_needs (org_path, created_at);

CREATE TABLE grid_resources (
    id                 TEXT PRIMARY KEY,
    -- One of the two is set: a unit's resource, or a member's.
    provider_org_id    TEXT NOT NULL,
    provider_member_id TEXT NOT NULL,
    org_id             TEXT NOT NULL,
    org_path           TEXT COLLATE "C" NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    category           TEXT NOT NULL,
    state              TEXT NOT NULL,
    offered_by         TEXT NOT NULL,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX grid_resources_subtree ON grid_resources (org_path, created_at);

CREATE TABLE grid_projects (
    id                 TEXT PRIMARY KEY,
    need_id            TEXT NOT NULL,
    resource_id        TEXT NOT NULL,
    org_id             TEXT NOT NULL,
    org_path           TEXT COLLATE "C" NOT NULL,
    provider_org_id    TEXT NOT NULL,
    provider_member_id TEXT NOT NULL,
    title              TEXT NOT NULL,
    state              TEXT NOT NULL,
    proposed_by_side   TEXT NOT NULL,
    proposed_by        TEXT NOT NULL,
    proposal_note      TEXT NOT NULL,
    answered_by        TEXT NOT NULL,
    outcome            TEXT NOT NULL,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    started_at         BIGINT,
    ended_at           BIGINT
);
CREATE INDEX grid_projects_subtree ON grid_projects (org_path, created_at);
CREATE INDEX grid_projects_member ON grid_projects (provider_member_id, created_at);
-- A need, and a resource, is in at most one active project, and one pair is proposed once at a
-- time.
CREATE UNIQUE INDEX grid_projects_active_need ON grid_projects (need_id) WHERE state = 'active';
CREATE UNIQUE INDEX grid_projects_active_resource ON grid_projects (resource_id) WHERE state = 'active';
CREATE UNIQUE INDEX grid_projects_open_pair ON grid_projects (need_id, resource_id) WHERE state = 'proposed';

-- Retried posts and offers return the first.
CREATE TABLE grid_list_request_ids (
    caller     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    PRIMARY KEY (caller, request_id)
);
