-- Leave half of each heap page free for the rows inserted from now on, so
-- that a claim (which sets only `worker` and `lease_until`, in no index)
-- rewrites a row in place (a HOT update) instead of adding an entry to each
-- of its four indexes. Rows already stored keep their pages.
ALTER TABLE refundkit_rows SET (fillfactor = 50);
