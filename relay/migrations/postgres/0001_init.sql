-- The relay's journal, shared by every relay instance on the database: each
-- decision (one row per request), and the daily-limit counters, held here
-- and not in any relay's memory so that all instances count one subject's
-- day together.
CREATE TABLE refundkit_relay_decisions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ,
    -- The instance that decided: host:pid:tag.
    relay        TEXT NOT NULL,
    subject      TEXT,
    role         TEXT,
    checkout_id  TEXT,
    amount       BIGINT,
    app_key      TEXT,
    upstream_key TEXT,
    outcome      TEXT NOT NULL,
    reason       TEXT,
    http_status  INTEGER,
    request_id   TEXT,
    refund_id    TEXT
);

CREATE INDEX refundkit_relay_decisions_upstream_key
    ON refundkit_relay_decisions (upstream_key);

-- Cents counted against a subject's UTC day (whole days since 1970-01-01).
-- A reservation is a conditional UPDATE of this row (cents + n <= limit),
-- so concurrent relays serialise on the row lock and never pass the limit.
CREATE TABLE refundkit_relay_daily_usage (
    subject TEXT NOT NULL,
    day     BIGINT NOT NULL,
    cents   BIGINT NOT NULL CHECK (cents >= 0),
    PRIMARY KEY (subject, day)
);

-- Which upstream key holds which cents: a retry of the same key counts
-- nothing twice, and a refund that certainly failed gives its cents back.
CREATE TABLE refundkit_relay_reservations (
    upstream_key TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    day          BIGINT NOT NULL,
    cents        BIGINT NOT NULL
);
CREATE INDEX refundkit_relay_reservations_day ON refundkit_relay_reservations (day);
