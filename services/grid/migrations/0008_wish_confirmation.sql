-- A group claim's named fellow members each accept before they are credited (a JSON array of
-- those who have), and the collecting org confirms a fulfilment before anyone is: when, and by
-- whom.
ALTER TABLE grid_wishes ADD COLUMN accepted_participants TEXT NOT NULL DEFAULT '[]';
ALTER TABLE grid_wishes ADD COLUMN confirmed_at BIGINT;
ALTER TABLE grid_wishes ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT '';
