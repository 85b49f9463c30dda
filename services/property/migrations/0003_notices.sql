-- The reminders and overdue notices sent, each once per item: (compound, kind, period, notice).
CREATE TABLE property_notices (
    compound_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    period      TEXT NOT NULL,
    notice      TEXT NOT NULL,
    sent_at     BIGINT NOT NULL,
    PRIMARY KEY (compound_id, kind, period, notice)
);
