-- A refund run shared by any number of workers: the CSV rows imported once,
-- each holding the idempotency key it is always sent with.
CREATE TABLE refundkit_runs (
    run         TEXT PRIMARY KEY,
    csv_sha256  TEXT NOT NULL,
    rows        BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE refundkit_rows (
    run             TEXT NOT NULL REFERENCES refundkit_runs (run) ON DELETE CASCADE,
    line            BIGINT NOT NULL,
    checkout_id     TEXT NOT NULL,
    amount          BIGINT,
    metadata        TEXT,
    row_digest      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'succeeded', 'failed', 'unknown')),
    -- The worker holding the row, until lease_until; heartbeats extend it.
    worker          TEXT,
    lease_until     TIMESTAMPTZ,
    -- The worker that last sent it: it does not take the row again itself.
    last_worker     TEXT,
    refund_id       TEXT,
    refund_status   TEXT,
    error_kind      TEXT,
    error_message   TEXT,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run, line),
    UNIQUE (run, row_digest),
    UNIQUE (run, idempotency_key)
);

-- Claims scan only rows still to send, in file order.
CREATE INDEX refundkit_rows_to_send ON refundkit_rows (run, line)
    WHERE state IN ('pending', 'unknown');

CREATE TABLE refundkit_workers (
    run           TEXT NOT NULL REFERENCES refundkit_runs (run) ON DELETE CASCADE,
    worker        TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent          BIGINT NOT NULL DEFAULT 0,
    succeeded     BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    unknown       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run, worker)
);
