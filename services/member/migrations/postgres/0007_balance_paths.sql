-- Each balance row carries its member's org path, so that a leaderboard reads the balances'
-- indexes alone: a large subtree finds its leaders among the year's highest balances
-- (year, balance, member_id); a small one takes its range of (year, org_path) and sorts it.
ALTER TABLE member_balances ADD COLUMN org_path TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE member_balances SET org_path = (
    SELECT m.org_path FROM member_members m WHERE m.id = member_balances.member_id
);
DROP INDEX member_balances_year;
CREATE INDEX member_balances_ranking ON member_balances (year, balance, member_id, org_path);
CREATE INDEX member_balances_subtree ON member_balances (year, org_path, balance);
