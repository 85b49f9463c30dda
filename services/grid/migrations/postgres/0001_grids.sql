-- Grid cells of the three layers, each owned by an org unit; org_path is that unit's path from
-- the district root (/root/…/org/), so a subtree's grids are one range of an index.
CREATE TABLE grid_grids (
    id         TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    layer      TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    org_path   TEXT COLLATE "C" NOT NULL,
    -- JSON [[latitude, longitude], …], or NULL.
    polygon    TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX grid_grids_org_path ON grid_grids (org_path);

-- Grid staff and party representatives stationed in a grid (党代表入驻网格).
CREATE TABLE grid_staff (
    grid_id TEXT NOT NULL REFERENCES grid_grids (id),
    subject TEXT NOT NULL,
    name    TEXT NOT NULL,
    role    TEXT NOT NULL,
    since   BIGINT NOT NULL,
    PRIMARY KEY (grid_id, subject)
);
CREATE INDEX grid_staff_subject ON grid_staff (subject);

-- Issue categories: attributes and time limits as JSON, read whole with the category.
CREATE TABLE grid_categories (
    code                 TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    attributes           TEXT NOT NULL,
    default_handler_kind TEXT NOT NULL,
    clock                TEXT NOT NULL,
    limits               TEXT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- The days that differ from "Monday to Friday work": holidays and weekend days worked.
CREATE TABLE grid_calendar (
    day     TEXT PRIMARY KEY,
    working INTEGER NOT NULL,
    note    TEXT NOT NULL
);
