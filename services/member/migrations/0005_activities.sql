-- Activities (活动留痕) with their attendees. An activity from a venue booking is keyed by the
-- booking, so however often its attendance event arrives there is one activity and one
-- attendance per member.
CREATE TABLE member_activities (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    held_on     TEXT NOT NULL,
    booking_id  TEXT UNIQUE,
    recorded_at BIGINT NOT NULL
);
CREATE TABLE member_activity_attendees (
    activity_id TEXT NOT NULL REFERENCES member_activities (id),
    member_id   TEXT NOT NULL REFERENCES member_members (id),
    PRIMARY KEY (activity_id, member_id)
);
CREATE INDEX member_activity_attendees_member ON member_activity_attendees (member_id);
