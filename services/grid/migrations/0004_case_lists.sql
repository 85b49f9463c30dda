-- A street's dashboard reads its range of paths in one index holding everything the counts
-- need (state, deadlines, whether the clock stopped); lists page newest first, either by walking
-- all cases in time order (large subtrees, where matches come soon) or by a subtree's range in
-- time order (small ones), whichever the planner finds cheaper.
DROP INDEX grid_cases_subtree;
CREATE INDEX grid_cases_dashboard ON grid_cases (org_path, state, step_due_at, overall_due_at, paused_at);
CREATE INDEX grid_cases_subtree_time ON grid_cases (org_path, created_at);
CREATE INDEX grid_cases_time ON grid_cases (created_at);
