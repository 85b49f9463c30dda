-- Request ids in the one shape every service keeps (jiceng_db::idempotency): each remembers the
-- operation it was first used for, so that a company's id reused for a compound is refused
-- rather than answered with another kind's NOT_FOUND. Earlier ids take the operation of the
-- record they made.
CREATE TABLE property_requests (
    caller      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    affected    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (caller, request_id)
);

INSERT INTO property_requests (caller, request_id, operation, resource_id, created_at)
SELECT caller, request_id,
       CASE
           WHEN EXISTS (SELECT 1 FROM property_companies c WHERE c.id = r.item_id) THEN 'CreateCompany'
           WHEN EXISTS (SELECT 1 FROM property_compounds c WHERE c.id = r.item_id) THEN 'CreateCompound'
           ELSE 'PublishDisclosure'
       END,
       item_id, 0
FROM property_request_ids r;

DROP TABLE property_request_ids;
