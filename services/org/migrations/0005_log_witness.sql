-- The latest head of each transparency log of the platform, kept here, out of reach of a
-- restore of the log's own database: one row per log, replaced only by a larger head that a
-- consistency proof shows contains it.
CREATE TABLE org_log_witness (
    log TEXT PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    signature TEXT NOT NULL,
    witnessed_at BIGINT NOT NULL
);
