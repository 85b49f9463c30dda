-- The holding org's path from the district root (/root/…/org/), so that a subtree's members
-- are one range of an index: leaderboards by org subtree stay fast at district scale. SQLite
-- compares text byte-wise.
ALTER TABLE member_members ADD COLUMN org_path TEXT NOT NULL DEFAULT '';
CREATE INDEX member_members_org_path ON member_members (org_path);
