-- Workers lease ranges of consecutive lines, not single rows (ADR 0026):
-- a claim updates one range row instead of every row it hands out, and the
-- rows table keeps only its primary key, so that recording an outcome (the
-- only update a row gets now) is a HOT update that adds no index entry.
CREATE TABLE refundkit_ranges (
    run          TEXT NOT NULL REFERENCES refundkit_runs (run) ON DELETE CASCADE,
    first_line   BIGINT NOT NULL,
    last_line    BIGINT NOT NULL,
    -- Every row in the range has succeeded or failed: nothing to send.
    done         BOOLEAN NOT NULL DEFAULT false,
    -- The worker holding the range, until lease_until; heartbeats extend it.
    worker       TEXT,
    lease_until  TIMESTAMPTZ,
    -- The worker that last released it with rows left to send: it does not
    -- take the range again itself.
    last_worker  TEXT,
    -- Times --retry-failed made rows of the range pending again; a release
    -- that saw an older value does not mark the range done.
    reopened     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, first_line)
);

-- Claims scan only ranges with rows left to send, in file order.
CREATE INDEX refundkit_ranges_open ON refundkit_ranges (run, first_line) WHERE NOT done;

-- Runs imported by an older version: ranges of up to 256 lines over their
-- rows, unleased (a row an older worker still holds is sent again with its
-- stored key, and replayed).
INSERT INTO refundkit_ranges (run, first_line, last_line, done)
SELECT run, min(line), max(line), bool_and(state IN ('succeeded', 'failed'))
FROM refundkit_rows
GROUP BY run, (line - 1) / 256;

-- Nothing looks rows up by state, digest or key any more: claims go through
-- ranges, outcomes by line, and the import checks duplicates itself. The
-- columns worker and lease_until are no longer written.
DROP INDEX IF EXISTS refundkit_rows_to_send;
ALTER TABLE refundkit_rows
    DROP CONSTRAINT IF EXISTS refundkit_rows_run_row_digest_key,
    DROP CONSTRAINT IF EXISTS refundkit_rows_run_idempotency_key_key;

-- Rows are inserted only by the import, in the transaction that inserts
-- their run: the foreign key's check of every inserted row (a fifth of an
-- import's server time) is replaced by a trigger that keeps its one other
-- effect, deleting a run's rows with the run.
CREATE FUNCTION refundkit_delete_run_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM refundkit_rows WHERE run = OLD.run;
    RETURN OLD;
END
$$;
CREATE TRIGGER refundkit_runs_delete_rows AFTER DELETE ON refundkit_runs
    FOR EACH ROW EXECUTE FUNCTION refundkit_delete_run_rows();
ALTER TABLE refundkit_rows DROP CONSTRAINT IF EXISTS refundkit_rows_run_fkey;
