-- Each run marks the rows of its CSV file (`seen_run`), so rows are read
-- back from the journal in pages instead of being held in memory, and the
-- status the service gave is kept beside the journal's state.
ALTER TABLE refunds ADD COLUMN seen_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN refund_status TEXT;
CREATE INDEX refunds_by_run_and_line ON refunds (seen_run, line);
