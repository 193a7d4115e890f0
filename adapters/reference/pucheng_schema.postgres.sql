-- REFERENCE LOCAL SYSTEM, for the demo and the tests — not part of silian.
-- Pucheng County Public Security Bureau (浦城县公安局, 350722000000): the tables of its own
-- case system, plus the outbox and inbox tables the database adapter reads and writes.
-- PostgreSQL edition; pucheng_schema.sqlite.sql is the same system for SQLite.
-- Idempotent: every statement can run again on an existing database.

-- Divisions (GB/T 2260) this bureau serves: an alert for any other division is refused.
CREATE TABLE IF NOT EXISTS served_divisions (
    code text PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO served_divisions (code, name) VALUES ('350722', '浦城县')
    ON CONFLICT (code) DO NOTHING;

-- silian's contract with the local system, outbound: the local app writes one row here in
-- the SAME transaction as the business change (see pucheng_app.py); the adapter reads
-- pending rows in id order, marks them sent_at when the bus holds them, and marks a row it
-- cannot read set_aside_at with the reason. A per-row mark, not a high-water mark: ids are
-- drawn before commit, so a lower id may become visible after a higher one.
CREATE TABLE IF NOT EXISTS silian_outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,                    -- mapping name: 'hit', 'dispute_settled', ...
    local_id text NOT NULL,                -- id of the business row, for people
    payload jsonb NOT NULL,                -- object of local field names to values
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,                   -- the adapter's cursor: NULL until taken
    set_aside_at timestamptz,
    set_aside_reason text
);
CREATE INDEX IF NOT EXISTS silian_outbox_pending
    ON silian_outbox (id) WHERE sent_at IS NULL AND set_aside_at IS NULL;

-- silian's contract with the local system, inbound: one row per event id, written by the
-- adapter in the same transaction as the business row the event becomes; a refused event
-- is kept with status 'rejected' and the reason.
CREATE TABLE IF NOT EXISTS silian_inbox (
    event_id text PRIMARY KEY,
    source text NOT NULL,                  -- issuing agency code
    ce_type text NOT NULL,
    kind text NOT NULL,
    fields jsonb NOT NULL,                 -- as received
    status text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'rejected')),
    reason text,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Business: alerts received from neighbouring agencies (an inbound 'alert' lands here).
CREATE TABLE IF NOT EXISTS alerts_received (
    id bigserial PRIMARY KEY,
    alert_id text NOT NULL,
    division text NOT NULL,
    subject text NOT NULL,
    reason text NOT NULL,
    priority text NOT NULL CHECK (priority IN ('urgent', 'routine', 'info')),
    review_at timestamptz,
    silian_event_id text NOT NULL UNIQUE REFERENCES silian_inbox (event_id),
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION alerts_received_division_served() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM served_divisions WHERE code = NEW.division) THEN
        RAISE EXCEPTION 'alert for division % which Pucheng does not serve', NEW.division;
    END IF;
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER alerts_received_division_served
    BEFORE INSERT ON alerts_received
    FOR EACH ROW EXECUTE FUNCTION alerts_received_division_served();

-- Business: hits (sightings) Pucheng's officers enter against an alert (outbound 'hit').
CREATE TABLE IF NOT EXISTS hits (
    id bigserial PRIMARY KEY,
    alert_id text NOT NULL,
    seen_at timestamptz NOT NULL,
    place text NOT NULL,
    action_taken text NOT NULL,
    officer text NOT NULL,
    entered_at timestamptz NOT NULL DEFAULT now()
);

-- Business: border disputes; settled locally (outbound 'dispute_settled') or received from
-- a neighbour (inbound 'dispute_settled', with the event id).
CREATE TABLE IF NOT EXISTS disputes (
    id bigserial PRIMARY KEY,
    dispute_id text NOT NULL,
    agreement_text text NOT NULL CHECK (length(agreement_text) > 0),
    paper_record_sha256 text NOT NULL CHECK (length(paper_record_sha256) = 64),
    settled_at timestamptz NOT NULL,
    silian_event_id text UNIQUE REFERENCES silian_inbox (event_id),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
