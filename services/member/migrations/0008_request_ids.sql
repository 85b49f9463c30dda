-- Request ids in the one shape every service keeps (jiceng_db::idempotency): each remembers the
-- operation it was first used for, so that reusing one for another is refused. Every earlier id
-- made a member.
CREATE TABLE member_requests_v2 (
    caller      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    affected    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (caller, request_id)
);

INSERT INTO member_requests_v2 (caller, request_id, operation, resource_id, created_at)
SELECT caller, request_id, 'CreateMember', member_id, 0 FROM member_requests;

DROP TABLE member_requests;

ALTER TABLE member_requests_v2 RENAME TO member_requests;
