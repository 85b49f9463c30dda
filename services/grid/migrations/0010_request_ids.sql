-- Request ids in the one shape every service keeps (jiceng_db::idempotency), in one table
-- instead of three: each remembers the operation it was first used for, so that reusing one for
-- another is refused. A caller's ids for needs and resources were kept with a kind prefix
-- ('need/…', 'resource/…'), which they lose here; where two of a caller's earlier ids now meet
-- (one id for a report and a need, say), one of them is kept: ids live minutes, not months.
CREATE TABLE grid_requests (
    caller      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    affected    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (caller, request_id)
);

INSERT INTO grid_requests (caller, request_id, operation, resource_id, created_at)
SELECT caller, request_id, 'ReportCase', case_id, 0 FROM grid_request_ids WHERE true
ON CONFLICT (caller, request_id) DO NOTHING;

INSERT INTO grid_requests (caller, request_id, operation, resource_id, created_at)
SELECT caller, request_id, 'PublishWish', wish_id, 0 FROM grid_wish_requests WHERE true
ON CONFLICT (caller, request_id) DO NOTHING;

INSERT INTO grid_requests (caller, request_id, operation, resource_id, created_at)
SELECT caller,
       CASE WHEN request_id LIKE 'need/%' THEN substr(request_id, 6) ELSE substr(request_id, 10) END,
       CASE WHEN request_id LIKE 'need/%' THEN 'PostNeed' ELSE 'OfferResource' END,
       item_id, 0
FROM grid_list_request_ids WHERE true
ON CONFLICT (caller, request_id) DO NOTHING;

DROP TABLE grid_request_ids;
DROP TABLE grid_wish_requests;
DROP TABLE grid_list_request_ids;
