-- Named queries of the application, loaded once by cryptomonitor/queries.py.
-- Each block starts with "-- name: <name>" and runs with psycopg's %(param)s placeholders.

-- name: get_meta
SELECT value FROM cryptomonitor_meta WHERE key = %(key)s;

-- name: set_meta_if_absent
INSERT INTO cryptomonitor_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO NOTHING;

-- name: insert_ticks
-- Idempotent: a (symbol, time) already stored is skipped; RETURNING names the new rows only.
INSERT INTO ticks (time, symbol, price, volume_24h, source)
SELECT * FROM unnest(
    %(times)s::timestamptz[], %(symbols)s::text[], %(prices)s::float8[],
    %(volumes)s::float8[], %(sources)s::text[])
ON CONFLICT (symbol, time) DO NOTHING
RETURNING symbol, time;

-- name: window_stats
-- For every new tick (symbol, time) and every window length in seconds: the trailing window.
SELECT k.symbol, k.time, w.seconds,
       s.price_avg, s.price_samples, s.volume_avg, s.volume_samples
FROM unnest(%(symbols)s::text[], %(times)s::timestamptz[]) AS k(symbol, time)
CROSS JOIN unnest(%(windows)s::float8[]) AS w(seconds)
CROSS JOIN LATERAL trailing_window(k.symbol, k.time, w.seconds) AS s;

-- name: lock_alert_states
SELECT rule, symbol, firing, episode_id, last_notified, last_evaluated
FROM alert_state
WHERE symbol = ANY(%(symbols)s::text[])
FOR UPDATE;

-- name: save_alert_state
INSERT INTO alert_state (rule, symbol, firing, episode_id, last_notified, last_evaluated)
VALUES (%(rule)s, %(symbol)s, %(firing)s, %(episode_id)s, %(last_notified)s, %(last_evaluated)s)
ON CONFLICT (rule, symbol) DO UPDATE SET
    firing = EXCLUDED.firing,
    episode_id = EXCLUDED.episode_id,
    last_notified = EXCLUDED.last_notified,
    last_evaluated = EXCLUDED.last_evaluated;

-- name: insert_alert
INSERT INTO alerts (alert_id, event, time, rule, symbol, metric, value, window_avg,
                    window_samples, window_seconds, condition, threshold, episode_id)
VALUES (%(alert_id)s, %(event)s, %(time)s, %(rule)s, %(symbol)s, %(metric)s, %(value)s,
        %(window_avg)s, %(window_samples)s, %(window_seconds)s, %(condition)s, %(threshold)s,
        %(episode_id)s)
ON CONFLICT (alert_id) DO NOTHING;

-- name: unwritten_alerts
SELECT alert_id, event, time, rule, symbol, metric, value, window_avg, window_samples,
       window_seconds, condition, threshold, episode_id
FROM alerts
WHERE written_at IS NULL
ORDER BY seq
LIMIT %(limit)s;

-- name: mark_alerts_written
UPDATE alerts SET written_at = now()
WHERE alert_id = ANY(%(alert_ids)s::uuid[]) AND written_at IS NULL;
