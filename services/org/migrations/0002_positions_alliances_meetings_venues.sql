-- Terms of people in roles of units; ended terms stay as history.
CREATE TABLE org_positions (
    id                  TEXT PRIMARY KEY,
    unit_id             TEXT NOT NULL REFERENCES org_units (id),
    role                TEXT NOT NULL,
    member_id           TEXT,
    person_name         TEXT,
    person_unit_name    TEXT,
    stationed_unit_name TEXT,
    term_start          BIGINT NOT NULL,
    term_end            BIGINT,
    end_reason          TEXT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX org_positions_unit_role ON org_positions (unit_id, role, term_start);

-- Regional platforms and their members, units in the tree or organisations outside it.
CREATE TABLE org_alliances (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    lead_unit_id TEXT NOT NULL REFERENCES org_units (id),
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX org_alliances_lead ON org_alliances (lead_unit_id);
CREATE TABLE org_alliance_members (
    id           TEXT PRIMARY KEY,
    alliance_id  TEXT NOT NULL REFERENCES org_alliances (id),
    unit_id      TEXT REFERENCES org_units (id),
    org_name     TEXT,
    credit_code  TEXT,
    joined_at    BIGINT NOT NULL,
    left_at      BIGINT,
    leave_reason TEXT
);
CREATE INDEX org_alliance_members_alliance ON org_alliance_members (alliance_id, joined_at);
CREATE INDEX org_alliance_members_unit ON org_alliance_members (unit_id);

-- Joint meetings (one topic each) and their decisions.
CREATE TABLE org_meetings (
    id               TEXT PRIMARY KEY,
    host_unit_id     TEXT REFERENCES org_units (id),
    host_alliance_id TEXT REFERENCES org_alliances (id),
    title            TEXT NOT NULL,
    topic_text       TEXT,
    grid_case_id     TEXT,
    scheduled_at     BIGINT NOT NULL,
    status           TEXT NOT NULL,
    attendees        TEXT NOT NULL,
    minutes          TEXT NOT NULL,
    held_at          BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX org_meetings_grid_case ON org_meetings (grid_case_id);
CREATE TABLE org_decisions (
    id               TEXT PRIMARY KEY,
    meeting_id       TEXT NOT NULL REFERENCES org_meetings (id),
    text             TEXT NOT NULL,
    owner_unit_id    TEXT NOT NULL REFERENCES org_units (id),
    due_at           BIGINT NOT NULL,
    status           TEXT NOT NULL,
    note             TEXT NOT NULL,
    closed_at        BIGINT,
    due_notified     INTEGER NOT NULL DEFAULT 0,
    overdue_notified INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX org_decisions_open ON org_decisions (status, due_at);
CREATE INDEX org_decisions_meeting ON org_decisions (meeting_id);

-- Residential projects and their three meetings; the key makes a stage impossible to repeat.
CREATE TABLE org_projects (
    id          TEXT PRIMARY KEY,
    unit_id     TEXT NOT NULL REFERENCES org_units (id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    next_stage  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE TABLE org_project_meetings (
    project_id TEXT NOT NULL REFERENCES org_projects (id),
    stage      TEXT NOT NULL,
    held_at    BIGINT NOT NULL,
    attendees  TEXT NOT NULL,
    opinions   TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    vote       TEXT,
    PRIMARY KEY (project_id, stage)
);

-- Shared venues and their bookings; lists are JSON text.
CREATE TABLE org_venues (
    id                    TEXT PRIMARY KEY,
    unit_id               TEXT NOT NULL REFERENCES org_units (id),
    name                  TEXT NOT NULL,
    capacity              BIGINT NOT NULL,
    facilities            TEXT NOT NULL,
    opening_hours         TEXT NOT NULL,
    bookable_by           TEXT NOT NULL,
    requires_confirmation INTEGER NOT NULL,
    created_at            BIGINT NOT NULL
);
CREATE INDEX org_venues_unit ON org_venues (unit_id);
CREATE TABLE org_bookings (
    id                 TEXT PRIMARY KEY,
    venue_id           TEXT NOT NULL REFERENCES org_venues (id),
    booker_unit_id     TEXT,
    booker_member_id   TEXT,
    title              TEXT NOT NULL,
    expected_attendees BIGINT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    status             TEXT NOT NULL,
    cancel_reason      TEXT,
    attendance         TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX org_bookings_venue_time ON org_bookings (venue_id, start_at);
