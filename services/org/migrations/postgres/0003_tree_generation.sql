-- The tree's generation: bumped in the same transaction as every change to org_units, so a
-- replica that holds the tree in memory knows, from one row, whether its copy is current.
-- A trigger rather than the store's code, so that no write path (a move's re-pathing, an
-- import) can forget it. One bump per statement: a move re-paths a thousand rows at once.
CREATE TABLE org_tree_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO org_tree_generation (id, generation) VALUES (1, 0);

CREATE FUNCTION org_bump_tree_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_tree_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER org_units_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_units
    FOR EACH STATEMENT EXECUTE FUNCTION org_bump_tree_generation();
