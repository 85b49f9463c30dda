-- When a replica last began comparing this database's org paths with the org tree: every
-- replica wakes to do it, and the one that moves this forward does it, so one round runs per
-- interval however many replicas there are.
CREATE TABLE org_paths_reconciled (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    started_at BIGINT NOT NULL
);
INSERT INTO org_paths_reconciled (id, started_at) VALUES (1, 0);
