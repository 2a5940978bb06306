-- The outbox: alerts stored but not yet in the alerts file (alertfile.py).
-- Named queries (`-- name: x`), loaded by cryptomonitor/queries.py; names are unique across
-- the files of sql/app/.

-- name: unwritten_alerts
SELECT alert_id, event, time, rule, symbol, metric, value, window_avg, window_samples,
       window_seconds, condition, threshold, episode_id, severity, figures
FROM alerts
WHERE written_at IS NULL
ORDER BY seq
LIMIT %(limit)s;

-- name: mark_alerts_written
UPDATE alerts SET written_at = now()
WHERE alert_id = ANY(%(alert_ids)s::uuid[]) AND written_at IS NULL;

-- name: lock_outbox
-- One process at a time moves alerts from the outbox to a file: two would write a line twice.
SELECT pg_advisory_lock(7381004261);

-- name: unlock_outbox
SELECT pg_advisory_unlock(7381004261);
