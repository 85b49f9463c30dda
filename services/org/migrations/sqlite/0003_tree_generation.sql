-- The tree's generation: bumped in the same transaction as every change to org_units, so a
-- process that holds the tree in memory knows, from one row, whether its copy is current.
-- Triggers rather than the store's code, so that no write path (a move's re-pathing, an
-- import) can forget it. SQLite's triggers fire per row.
CREATE TABLE org_tree_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO org_tree_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER org_units_inserted AFTER INSERT ON org_units BEGIN
    UPDATE org_tree_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER org_units_updated AFTER UPDATE ON org_units BEGIN
    UPDATE org_tree_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER org_units_deleted AFTER DELETE ON org_units BEGIN
    UPDATE org_tree_generation SET generation = generation + 1 WHERE id = 1;
END;
