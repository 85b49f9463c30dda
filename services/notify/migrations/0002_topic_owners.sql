-- Topics are owned by an org unit, whose admins (and those above) publish to them. An empty
-- owner is the whole district: only its admins and the platform's services publish there.
CREATE TABLE notify_topics (
    name         TEXT PRIMARY KEY,
    owner_org_id TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Topics followed before they had owners belong to the whole district.
INSERT INTO notify_topics (name, owner_org_id, description, created_by, created_at)
SELECT DISTINCT topic, '', '', '', 0 FROM notify_topic_followers;
