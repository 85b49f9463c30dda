-- Every reveal of personal data in clear: who, whose, which fields of which record, why, in
-- which trace. Read by person, by actor and by time, newest first.
CREATE TABLE pii_reveals (
    id           TEXT PRIMARY KEY,
    revealed_at  BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    record       TEXT NOT NULL,
    -- A JSON array of field names.
    fields       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    trace_id     TEXT NOT NULL
);
CREATE INDEX pii_reveals_subject ON pii_reveals (subject_kind, subject_id, revealed_at);
CREATE INDEX pii_reveals_actor ON pii_reveals (actor, revealed_at);
CREATE INDEX pii_reveals_time ON pii_reveals (revealed_at);
