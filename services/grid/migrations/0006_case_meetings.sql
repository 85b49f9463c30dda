-- The joint meetings of the org service that take up a case: each joins the case's history once,
-- however often its event arrives.
CREATE TABLE grid_case_meetings (
    case_id    TEXT NOT NULL,
    meeting_id TEXT NOT NULL,
    PRIMARY KEY (case_id, meeting_id)
);
