-- allybridge store, SQLite schema v1. Times are Unix milliseconds (UTC).

CREATE TABLE connections (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
    system      TEXT NOT NULL CHECK (system IN ('highlevel', 'accessally')),
    account_id  TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE credentials (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    ciphertext    BLOB NOT NULL,
    expires_at    INTEGER,
    scopes        TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (connection_id, kind)
);

CREATE TABLE links (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type       TEXT NOT NULL,
    highlevel_id      TEXT NOT NULL,
    accessally_id     TEXT NOT NULL,
    highlevel_hash    TEXT,
    accessally_hash   TEXT,
    last_written_to   TEXT CHECK (last_written_to IN ('highlevel', 'accessally')),
    last_written_at   INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (entity_type, highlevel_id),
    UNIQUE (entity_type, accessally_id)
);

CREATE TABLE inbox (
    source       TEXT NOT NULL,
    event_id     TEXT NOT NULL CHECK (length(event_id) > 0),
    event_type   TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX inbox_received ON inbox (received_at);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL CHECK (length(kind) > 0),
    entity_type      TEXT NOT NULL,
    record_system    TEXT NOT NULL CHECK (record_system IN ('highlevel', 'accessally')),
    record_id        TEXT NOT NULL,
    location         TEXT,
    dedupe_key       TEXT NOT NULL CHECK (length(dedupe_key) > 0),
    priority         INTEGER NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead', 'superseded')),
    run_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    merged_count     INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    dead_reason      TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE UNIQUE INDEX jobs_one_pending_per_key ON jobs (dedupe_key) WHERE state = 'pending';
CREATE INDEX jobs_ready ON jobs (priority, run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_dead ON jobs (id) WHERE state = 'dead';

CREATE TABLE location_leases (
    location    TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- Single-flight locks (token refresh) for backends without advisory locks.
CREATE TABLE refresh_locks (
    location    TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE poll_cursors (
    source      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    cursor      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (source, entity_type)
);

CREATE TABLE integration_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    entity_type  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    action       TEXT NOT NULL,
    from_system  TEXT NOT NULL,
    to_system    TEXT NOT NULL,
    result       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    job_id       INTEGER
);
CREATE INDEX integration_log_record ON integration_log (entity_type, record_id, id);

CREATE TABLE api_activity (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    system          TEXT NOT NULL,
    location        TEXT,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          INTEGER,
    latency_ms      INTEGER NOT NULL,
    rate_remaining  INTEGER
);
CREATE INDEX api_activity_at ON api_activity (at);

CREATE TABLE drift_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    checked     INTEGER NOT NULL,
    drifted     INTEGER NOT NULL,
    details     TEXT NOT NULL
);

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sent_at       INTEGER NOT NULL,
    incident_key  TEXT NOT NULL,
    channel       TEXT NOT NULL,
    summary       TEXT NOT NULL
);
CREATE INDEX alerts_incident ON alerts (incident_key, sent_at);

CREATE TABLE alert_cooldowns (
    incident_key  TEXT PRIMARY KEY NOT NULL,
    last_sent_at  INTEGER NOT NULL
);
