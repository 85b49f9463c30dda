-- How to reach whoever reported a case: sealed, with its mask for everyone else.
ALTER TABLE grid_cases ADD COLUMN contact_sealed TEXT;
ALTER TABLE grid_cases ADD COLUMN contact_masked TEXT NOT NULL DEFAULT '';
