-- REFERENCE LOCAL SYSTEM, for the demo and the tests — not part of silian.
-- Pucheng County Public Security Bureau (浦城县公安局, 350722000000): the tables of its own
-- case system, plus the outbox and inbox tables the database adapter reads and writes.
-- SQLite edition; pucheng_schema.postgres.sql is the same system for PostgreSQL.
-- Idempotent: every statement can run again on an existing database.

-- Write-ahead log: the adapter reads the outbox while the app writes, without blocking it.
PRAGMA journal_mode = WAL;

-- Divisions (GB/T 2260) this bureau serves: an alert for any other division is refused.
CREATE TABLE IF NOT EXISTS served_divisions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT OR IGNORE INTO served_divisions (code, name) VALUES ('350722', '浦城县');

-- silian's contract with the local system, outbound: the local app writes one row here in
-- the SAME transaction as the business change (see pucheng_app.py); the adapter reads
-- pending rows in id order, marks them sent_at when the bus holds them, and marks a row it
-- cannot read set_aside_at with the reason.
CREATE TABLE IF NOT EXISTS silian_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused, order holds
    kind TEXT NOT NULL,                    -- mapping name: 'hit', 'dispute_settled', ...
    local_id TEXT NOT NULL,                -- id of the business row, for people
    payload TEXT NOT NULL,                 -- JSON object of local field names to values
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    sent_at TEXT,                          -- the adapter's cursor: NULL until taken
    set_aside_at TEXT,
    set_aside_reason TEXT
);
CREATE INDEX IF NOT EXISTS silian_outbox_pending
    ON silian_outbox (id) WHERE sent_at IS NULL AND set_aside_at IS NULL;

-- silian's contract with the local system, inbound: one row per event id, written by the
-- adapter in the same transaction as the business row the event becomes; a refused event
-- is kept with status 'rejected' and the reason.
CREATE TABLE IF NOT EXISTS silian_inbox (
    event_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,                  -- issuing agency code
    ce_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    fields TEXT NOT NULL,                  -- JSON object, as received
    status TEXT NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'rejected')),
    reason TEXT,
    received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Business: alerts received from neighbouring agencies (an inbound 'alert' lands here).
CREATE TABLE IF NOT EXISTS alerts_received (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    division TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('urgent', 'routine', 'info')),
    review_at TEXT,
    silian_event_id TEXT NOT NULL UNIQUE REFERENCES silian_inbox (event_id),
    received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TRIGGER IF NOT EXISTS alerts_received_division_served
BEFORE INSERT ON alerts_received
WHEN NOT EXISTS (SELECT 1 FROM served_divisions WHERE code = NEW.division)
BEGIN
    SELECT RAISE(ABORT, 'alert for a division Pucheng does not serve');
END;

-- Business: hits (sightings) Pucheng's officers enter against an alert (outbound 'hit').
CREATE TABLE IF NOT EXISTS hits (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    place TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    officer TEXT NOT NULL,
    entered_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Business: border disputes; settled locally (outbound 'dispute_settled') or received from
-- a neighbour (inbound 'dispute_settled', with the event id).
CREATE TABLE IF NOT EXISTS disputes (
    id INTEGER PRIMARY KEY,
    dispute_id TEXT NOT NULL,
    agreement_text TEXT NOT NULL CHECK (length(agreement_text) > 0),
    paper_record_sha256 TEXT NOT NULL CHECK (length(paper_record_sha256) = 64),
    settled_at TEXT NOT NULL,
    silian_event_id TEXT UNIQUE REFERENCES silian_inbox (event_id),
    recorded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
