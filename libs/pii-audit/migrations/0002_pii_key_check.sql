-- The fingerprint of the personal-data key this database's data is sealed under. A process
-- started with another key refuses to serve, rather than seal new data under a key the old data
-- does not open with (one row: the first key the database met).
CREATE TABLE pii_key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
