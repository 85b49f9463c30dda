-- The newest org tree generation whose move this database has applied (re-pathed its rows for).
-- A write that stores an org path read at an older generation may store a path that move
-- changed; it reads this row under a shared lock that re-pathing takes exclusively, so either
-- the re-path sees its row, or it sees the re-path and asks the org service again.
CREATE TABLE org_paths_applied (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO org_paths_applied (id, generation) VALUES (1, 0);
