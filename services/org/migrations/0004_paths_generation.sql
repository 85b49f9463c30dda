-- The generation the tree's last move committed at. Other services cache ancestry stamped with
-- the generation it was read at; it stays current while no move has committed since, which one
-- number answers without the tree's other changes (creates, renames) voiding every cache.
ALTER TABLE org_tree_generation ADD COLUMN paths_generation BIGINT NOT NULL DEFAULT 0;
