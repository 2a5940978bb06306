-- Named queries of the application, loaded once by cryptomonitor/queries.py.
-- Each block starts with "-- name: <name>" and runs with psycopg's %(param)s placeholders.

-- name: get_meta
SELECT value FROM cryptomonitor_meta WHERE key = %(key)s;

-- name: set_meta_if_absent
INSERT INTO cryptomonitor_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO NOTHING;

-- name: create_tick_batch
-- Each writer session's staging table for one batch of ticks (emptied at every commit).
-- `known`: the newest tick of the symbol the writer's alert windows hold (NULL: none).
CREATE TEMPORARY TABLE IF NOT EXISTS tick_batch (
    time       timestamptz      NOT NULL,
    symbol     text             NOT NULL,
    price      double precision NOT NULL,
    volume_24h double precision,
    source     text             NOT NULL,
    known      timestamptz
) ON COMMIT DELETE ROWS;

-- name: copy_tick_batch
COPY tick_batch (time, symbol, price, volume_24h, source, known) FROM STDIN;

-- name: insert_tick_batch
-- Idempotent: a (symbol, time) already stored is skipped; RETURNING names the new rows only.
INSERT INTO ticks (time, symbol, price, volume_24h, source)
SELECT time, symbol, price, volume_24h, source FROM tick_batch
ON CONFLICT (symbol, time) DO NOTHING
RETURNING symbol, time;

-- name: window_ticks
-- The alert evaluator's warm-up: the recent ticks of the symbols it has not seen yet, one row
-- per symbol, oldest first, times in exact integer microseconds (extract returns numeric),
-- NaN for a missing volume.
SELECT symbol,
       array_agg((extract(epoch FROM time) * 1000000)::bigint ORDER BY time),
       array_agg(price ORDER BY time),
       array_agg(coalesce(volume_24h, 'NaN') ORDER BY time)
FROM ticks
WHERE symbol = ANY(%(symbols)s::text[]) AND time >= %(since)s
GROUP BY symbol;

-- name: ticks_between
-- Symbols of the batch with a tick stored after the newest the writer knows and before the
-- batch's: stored by another writer (see cryptomonitor/evaluator.py).
-- LATERAL ... LIMIT 1 keeps it one index probe per row: the temporary table has no
-- statistics, and with EXISTS the planner may hash-join a scan of every tick instead.
SELECT DISTINCT b.symbol
FROM tick_batch b
CROSS JOIN LATERAL (SELECT FROM ticks t
                    WHERE t.symbol = b.symbol AND t.time > b.known AND t.time < b.time
                    LIMIT 1) AS newer
WHERE b.known IS NOT NULL;

-- name: alert_states
SELECT rule, symbol, firing, episode_id, last_notified, last_evaluated
FROM alert_state
WHERE symbol = ANY(%(symbols)s::text[]);

-- name: save_alert_states
-- Written only when an alert opens, repeats or resolves: last_evaluated is that tick's time.
INSERT INTO alert_state (rule, symbol, firing, episode_id, last_notified, last_evaluated)
SELECT * FROM unnest(%(rules)s::text[], %(symbols)s::text[], %(firing)s::boolean[],
                     %(episodes)s::uuid[], %(notified)s::timestamptz[],
                     %(evaluated)s::timestamptz[])
ON CONFLICT (rule, symbol) DO UPDATE SET
    firing = EXCLUDED.firing,
    episode_id = EXCLUDED.episode_id,
    last_notified = EXCLUDED.last_notified,
    last_evaluated = EXCLUDED.last_evaluated;

-- name: insert_alerts
INSERT INTO alerts (alert_id, event, time, rule, symbol, metric, value, window_avg,
                    window_samples, window_seconds, condition, threshold, episode_id)
SELECT * FROM unnest(
    %(alert_id)s::uuid[], %(event)s::text[], %(time)s::timestamptz[], %(rule)s::text[],
    %(symbol)s::text[], %(metric)s::text[], %(value)s::float8[], %(window_avg)s::float8[],
    %(window_samples)s::integer[], %(window_seconds)s::float8[], %(condition)s::text[],
    %(threshold)s::float8[], %(episode_id)s::uuid[])
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

-- name: api_symbols
-- Every symbol with its newest tick: a skip scan over ticks_pkey (one probe per symbol).
WITH RECURSIVE symbols AS (
    (SELECT symbol FROM ticks ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT t.symbol FROM ticks t WHERE t.symbol > s.symbol ORDER BY t.symbol LIMIT 1)
    FROM symbols s
    WHERE s.symbol IS NOT NULL
)
SELECT s.symbol, l.time, l.price, l.volume_24h
FROM symbols s
CROSS JOIN LATERAL (
    SELECT time, price, volume_24h FROM ticks t
    WHERE t.symbol = s.symbol ORDER BY time DESC LIMIT 1
) AS l
WHERE s.symbol IS NOT NULL
ORDER BY s.symbol;

-- name: api_latest
SELECT time, price, volume_24h FROM ticks WHERE symbol = %(symbol)s ORDER BY time DESC LIMIT 1;

-- name: api_window_start
SELECT last_24h_start();

-- name: api_summary
SELECT count(price), min(price), max(price), avg(price), stddev_samp(price)
FROM ticks
WHERE symbol = %(symbol)s AND time >= %(start)s AND time < %(end)s;

-- name: api_points
SELECT time, price, volume_24h FROM ticks
WHERE symbol = %(symbol)s AND time >= %(start)s AND time < %(end)s
ORDER BY time
LIMIT %(limit)s;

-- name: api_candles_1m
SELECT bucket, open, high, low, close, volume, ticks FROM ohlcv_1m
WHERE symbol = %(symbol)s AND bucket >= %(start)s AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_candles_1h
SELECT bucket, open, high, low, close, volume, ticks FROM ohlcv_1h
WHERE symbol = %(symbol)s AND bucket >= date_bin(INTERVAL '1 hour', %(start)s::timestamptz,
                                                 TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_candles_1d
SELECT bucket, open, high, low, close, volume, ticks FROM ohlcv_1d
WHERE symbol = %(symbol)s AND bucket >= date_bin(INTERVAL '1 day', %(start)s::timestamptz,
                                                 TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_ranking
SELECT symbol, stddev, samples, rank, count(*) OVER () AS total FROM volatility_24h;

-- name: api_alerts
SELECT alert_id, event, time, rule, symbol, metric, value, window_avg, window_samples,
       window_seconds, condition, threshold, episode_id
FROM alerts
WHERE time >= %(start)s AND time < %(end)s
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
ORDER BY time DESC, seq DESC
LIMIT %(limit)s;

-- name: api_newest_tick_age
SELECT extract(epoch FROM now() - max(time)) FROM ticks WHERE time > now() - INTERVAL '7 days';

-- name: ticks_policies_match
-- TimescaleDB only: whether the compression and retention policies of ticks are already the
-- configured ones (NULL seconds: no policy). Lets a role that may not change them start.
SELECT
    (SELECT (config ->> 'compress_after')::interval FROM timescaledb_information.jobs
     WHERE hypertable_name = 'ticks' AND proc_name = 'policy_compression')
        IS NOT DISTINCT FROM justify_hours(make_interval(secs => %(compress_after)s::float8)),
    (SELECT (config ->> 'drop_after')::interval FROM timescaledb_information.jobs
     WHERE hypertable_name = 'ticks' AND proc_name = 'policy_retention')
        IS NOT DISTINCT FROM justify_hours(make_interval(secs => %(retention)s::float8));

-- name: listen_ticks_written
-- A writer's alert-window cache hears other sessions' changes to ticks (migration 0007), and
-- announces its own inserts itself (announce_ticks), so the trigger stays quiet for them.
LISTEN cryptomonitor_ticks;
SET cryptomonitor.announces = on;

-- name: announce_ticks
-- In the transaction that inserted them: which symbols got ticks ('INSERT ["a", "b"]', split
-- to stay under PostgreSQL's 8000-byte payload limit). Sent at commit, like the trigger's.
SELECT pg_notify('cryptomonitor_ticks', payload) FROM unnest(%(payloads)s::text[]) AS payload;

-- name: copy_ticks
-- The fast path of a batch the writer's cache proves new (cryptomonitor/store.py: _append):
-- straight into ticks, no staging, no ON CONFLICT. A duplicate fails the whole COPY
-- (unique_violation) and the batch is redone the idempotent way.
COPY ticks (time, symbol, price, volume_24h, source) FROM STDIN (FORMAT binary);

-- name: newest_tick
-- The newest stored tick of one symbol (the demo continues after it).
SELECT max(time) FROM ticks WHERE symbol = %(symbol)s;

-- name: lock_outbox
-- One process at a time moves alerts from the outbox to a file: two would write a line twice.
SELECT pg_advisory_lock(7381004261);

-- name: unlock_outbox
SELECT pg_advisory_unlock(7381004261);
