-- Delivery of alert events to the receivers (cryptomonitor/delivery.py).

-- name: register_receiver
-- A receiver seen for the first time starts after the newest event in the outbox.
INSERT INTO receivers (name, kind, since_seq)
SELECT %(name)s, %(kind)s, coalesce(max(seq), 0) FROM alerts
ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind;

-- name: lock_receiver
-- One process delivers to a receiver at a time (replicas of run): a session lock, released
-- when the process or its connection dies.
SELECT pg_try_advisory_lock(hashtextextended('cryptomonitor.receiver:' || %(name)s, 0));

-- name: due_events
-- The events a receiver has not had yet, oldest first, in order: none at all while its oldest
-- failing event waits for its next attempt (a RESOLVED never overtakes its ALERT).
SELECT a.alert_id, a.event, a.time, a.rule, a.symbol, a.metric, a.value, a.window_avg,
       a.window_samples, a.window_seconds, a.condition, a.threshold, a.episode_id,
       a.severity, a.figures
FROM alerts a
JOIN receivers r ON r.name = %(name)s
LEFT JOIN alert_deliveries d ON d.receiver = r.name AND d.alert_id = a.alert_id
WHERE a.seq > r.since_seq
  AND (d.alert_id IS NULL OR d.status = 'failing')
  AND NOT EXISTS (SELECT FROM alert_deliveries w
                  WHERE w.receiver = r.name AND w.status = 'failing'
                    AND w.next_attempt_at > now())
ORDER BY a.seq
LIMIT %(limit)s;

-- name: record_deliveries
INSERT INTO alert_deliveries AS d (receiver, alert_id, status, attempts, next_attempt_at,
                                   last_error)
SELECT %(name)s, id, %(status)s, 1,
       now() + make_interval(secs => %(retry_in)s::float8), %(error)s
FROM unnest(%(alert_ids)s::uuid[]) AS id
ON CONFLICT (receiver, alert_id) DO UPDATE SET
    status = EXCLUDED.status,
    attempts = d.attempts + 1,
    last_attempt_at = now(),
    next_attempt_at = EXCLUDED.next_attempt_at,
    last_error = EXCLUDED.last_error;

-- name: receiver_status
-- For /health and the metrics: per receiver, events not yet delivered and the oldest's age.
SELECT r.name, r.kind,
       count(a.alert_id) FILTER (WHERE d.status IS NULL OR d.status = 'failing') AS pending,
       extract(epoch FROM now() - min(a.created_at) FILTER (
           WHERE d.status IS NULL OR d.status = 'failing'))::float8 AS oldest_pending_s,
       (array_agg(d.last_error ORDER BY d.last_attempt_at DESC)
           FILTER (WHERE d.status = 'failing'))[1] AS last_error
FROM receivers r
LEFT JOIN alerts a ON a.seq > r.since_seq
LEFT JOIN alert_deliveries d ON d.receiver = r.name AND d.alert_id = a.alert_id
GROUP BY r.name, r.kind
ORDER BY r.name;

-- name: settle_receiver
-- Move a receiver's starting point past the events it has settled (delivered or skipped), so
-- that its queries stop walking them: up to the event before its oldest unsettled one, and no
-- further than events older than `settle` seconds (a transaction still open could yet commit
-- an event with a lower number than one already delivered).
UPDATE receivers r SET since_seq = greatest(r.since_seq, least(
    coalesce((SELECT min(a.seq) - 1 FROM alerts a
              LEFT JOIN alert_deliveries d ON d.receiver = r.name AND d.alert_id = a.alert_id
              WHERE a.seq > r.since_seq AND (d.alert_id IS NULL OR d.status = 'failing')),
             (SELECT max(seq) FROM alerts)),
    (SELECT coalesce(max(seq), 0) FROM alerts  -- least() ignores a NULL: 0, not none
     WHERE created_at < now() - make_interval(secs => %(settle)s::float8))))
WHERE r.name = %(name)s;
