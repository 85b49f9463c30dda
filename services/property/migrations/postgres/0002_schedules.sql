-- How often each kind is due for the compounds below an org; a compound follows its nearest
-- ancestor's schedule of a kind.
CREATE TABLE property_schedules (
    org_id       TEXT NOT NULL,
    org_path     TEXT COLLATE "C" NOT NULL,
    kind         TEXT NOT NULL,
    frequency    TEXT NOT NULL,
    due_days     INTEGER NOT NULL,
    display_days INTEGER NOT NULL,
    PRIMARY KEY (org_id, kind)
);
