-- When an approved deferral ends: the clock stands still until then, and the case says so
-- rather than only moving its due times.
ALTER TABLE grid_cases ADD COLUMN deferred_until BIGINT;
