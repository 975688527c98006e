-- The batch journal: one row per CSV row, holding the idempotency key that
-- row is sent with and what became of it.
CREATE TABLE IF NOT EXISTS refunds (
    checkout_id     TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    line            INTEGER NOT NULL,
    amount          INTEGER,
    metadata        TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'unknown')),
    refund_id       TEXT,
    error_kind      TEXT,
    error_message   TEXT,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (checkout_id, row_key)
) WITHOUT ROWID;
