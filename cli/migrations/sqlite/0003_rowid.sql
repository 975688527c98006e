-- The same table with a rowid, and its state CHECK written as comparisons.
-- SQLite builds a temporary b-tree for an IN list of more than two values
-- each time a statement evaluates it: every row's insert and every outcome's
-- update paid for one (about half of the journal's work). Rows keep their
-- columns, values and keys; only the storage changes.
CREATE TABLE refunds_v3 (
    id              INTEGER PRIMARY KEY,
    checkout_id     TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    line            INTEGER NOT NULL,
    amount          INTEGER,
    metadata        TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state = 'pending' OR state = 'succeeded'
                                         OR state = 'failed' OR state = 'unknown'),
    refund_id       TEXT,
    error_kind      TEXT,
    error_message   TEXT,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    seen_run        INTEGER NOT NULL DEFAULT 0,
    refund_status   TEXT,
    UNIQUE (checkout_id, row_key)
);
INSERT INTO refunds_v3 (checkout_id, row_key, line, amount, metadata, idempotency_key, state,
                        refund_id, error_kind, error_message, http_status, attempts,
                        created_at, updated_at, seen_run, refund_status)
    SELECT checkout_id, row_key, line, amount, metadata, idempotency_key, state,
           refund_id, error_kind, error_message, http_status, attempts,
           created_at, updated_at, seen_run, refund_status
    FROM refunds ORDER BY seen_run, line;
DROP TABLE refunds;
ALTER TABLE refunds_v3 RENAME TO refunds;
CREATE INDEX refunds_by_run_and_line ON refunds (seen_run, line);
