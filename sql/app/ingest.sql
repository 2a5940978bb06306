-- Ingest: the statements of a batch of ticks (cryptomonitor/repository.py), the alert
-- cache's notifications (coherence.py) and the fetcher's start-up facts (database.py).
-- Named queries (`-- name: x`), loaded by cryptomonitor/queries.py; names are unique across
-- the files of sql/app/.

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
    known      timestamptz,
    volume     double precision
) ON COMMIT DELETE ROWS;

-- name: copy_tick_batch
COPY tick_batch (time, symbol, price, volume_24h, source, known, volume) FROM STDIN;

-- name: insert_tick_batch
-- Idempotent: a (symbol, time) already stored is skipped; RETURNING names the new rows only.
INSERT INTO ticks (time, symbol, price, volume_24h, source, volume)
SELECT time, symbol, price, volume_24h, source, volume FROM tick_batch
ON CONFLICT (symbol, time) DO NOTHING
RETURNING symbol, time;

-- name: window_closes
-- The alert cache's warm-up for indicator rules: per symbol, the last `count` candles of the
-- interval (microseconds) stored, whatever the gaps between them: per candle its bucket (a
-- multiple of the interval since the epoch, as the ohlcv_* views'), its latest tick's time and
-- price (its close), oldest first. Each step is one probe of ticks_pkey backwards: the latest
-- tick before the bucket found last is the close of the candle before it; `count` probes a
-- symbol, however long ago its candles were (cryptomonitor/alerting/candles.py; cache.py: Closes).
WITH RECURSIVE closes AS (
    SELECT s.symbol, l.t - l.t %% %(interval)s::bigint AS bucket, l.t, l.price, 1 AS n
    FROM unnest(%(symbols)s::text[]) AS s (symbol)
    CROSS JOIN LATERAL (
        SELECT (extract(epoch FROM time) * 1000000)::bigint AS t, price
        FROM ticks WHERE ticks.symbol = s.symbol
        ORDER BY time DESC LIMIT 1
    ) AS l
    UNION ALL
    SELECT c.symbol, p.t - p.t %% %(interval)s::bigint, p.t, p.price, c.n + 1
    FROM closes AS c
    CROSS JOIN LATERAL (
        SELECT (extract(epoch FROM time) * 1000000)::bigint AS t, price
        FROM ticks WHERE ticks.symbol = c.symbol AND time < to_timestamp(c.bucket / 1000000)
        ORDER BY time DESC LIMIT 1
    ) AS p
    WHERE c.n < %(count)s
)
SELECT symbol, %(interval)s::bigint AS interval,
       array_agg(bucket ORDER BY bucket) AS buckets,
       array_agg(t ORDER BY bucket) AS times,
       array_agg(price ORDER BY bucket) AS closes
FROM closes
GROUP BY symbol;

-- name: window_ticks
-- The alert cache's warm-up: the recent ticks of the symbols it has not seen yet, one row
-- per symbol, oldest first, times in exact integer microseconds (extract returns numeric),
-- NaN for a missing volume. Read by column name (cryptomonitor/alerting/cache.py: Recent).
SELECT symbol,
       array_agg((extract(epoch FROM time) * 1000000)::bigint ORDER BY time) AS times,
       array_agg(price ORDER BY time) AS prices,
       array_agg(coalesce(volume_24h, 'NaN') ORDER BY time) AS volumes,
       array_agg(coalesce(volume, 'NaN') ORDER BY time) AS traded
FROM ticks
WHERE symbol = ANY(%(symbols)s::text[]) AND time >= %(since)s
GROUP BY symbol;

-- name: ticks_between
-- Symbols of the batch with a tick stored after the newest the writer knows and before the
-- batch's: stored by another writer (see cryptomonitor/alerting/cache.py).
-- LATERAL ... LIMIT 1 keeps it one index probe per row: the temporary table has no
-- statistics, and with EXISTS the planner may hash-join a scan of every tick instead.
SELECT DISTINCT b.symbol
FROM tick_batch b
CROSS JOIN LATERAL (SELECT FROM ticks t
                    WHERE t.symbol = b.symbol AND t.time > b.known AND t.time < b.time
                    LIMIT 1) AS newer
WHERE b.known IS NOT NULL;

-- name: alert_states
-- Read by column name (cryptomonitor/alerting/episodes.py: State).
SELECT rule, symbol, firing, episode_id, last_notified, last_changed, pending_since,
       resolved_at, done
FROM alert_state
WHERE symbol = ANY(%(symbols)s::text[]);

-- name: save_alert_states
-- Written only when a state changes (an alert opens, repeats or resolves, a `for` period
-- starts or breaks): last_changed is that tick's time. The arrays go in binary (the b
-- placeholders), as in insert_alerts and announce_ticks_changed: psycopg quotes a text
-- array's elements through a regular expression (2.0 ms for the payloads announcing 1,000
-- symbols), a binary array costs nothing.
INSERT INTO alert_state (rule, symbol, firing, episode_id, last_notified, last_changed,
                         pending_since, resolved_at, done)
SELECT * FROM unnest(%(rules)b::text[], %(symbols)b::text[], %(firing)b::boolean[],
                     %(episodes)b::uuid[], %(notified)b::timestamptz[],
                     %(changed)b::timestamptz[], %(pending)b::timestamptz[],
                     %(resolved)b::timestamptz[], %(done)b::boolean[])
ON CONFLICT (rule, symbol) DO UPDATE SET
    firing = EXCLUDED.firing,
    episode_id = EXCLUDED.episode_id,
    last_notified = EXCLUDED.last_notified,
    last_changed = EXCLUDED.last_changed,
    pending_since = EXCLUDED.pending_since,
    resolved_at = EXCLUDED.resolved_at,
    done = EXCLUDED.done;

-- name: reset_alert_states
-- A reload of the rules file (SIGHUP): the rules whose definition changed, or that are gone,
-- start afresh (an open episode of theirs ends without a RESOLVED line). last_changed stays:
-- no tick already judged is judged again.
UPDATE alert_state
SET firing = false, episode_id = NULL, last_notified = NULL, pending_since = NULL,
    resolved_at = NULL, done = false
WHERE rule = ANY(%(rules)s::text[]);

-- name: insert_alerts
INSERT INTO alerts (alert_id, event, time, rule, symbol, metric, value, window_avg,
                    window_samples, window_seconds, condition, threshold, episode_id,
                    severity, figures)
SELECT a, e, t, r, s, m, v, wa, ws, wl, c, x, ep, sev, f::jsonb FROM unnest(
    %(alert_id)b::uuid[], %(event)b::text[], %(time)b::timestamptz[], %(rule)b::text[],
    %(symbol)b::text[], %(metric)b::text[], %(value)b::float8[], %(window_avg)b::float8[],
    %(window_samples)b::integer[], %(window_seconds)b::float8[], %(condition)b::text[],
    %(threshold)b::float8[], %(episode_id)b::uuid[], %(severity)b::text[],
    %(figures)b::text[]) AS u(a, e, t, r, s, m, v, wa, ws, wl, c, x, ep, sev, f)
ON CONFLICT (alert_id) DO NOTHING;

-- name: listen_ticks_changed
-- A writer's alert-window cache hears other sessions' changes to ticks (migration 0008's
-- trigger), and announces its own inserts itself (announce_ticks_changed), so the trigger
-- stays quiet for them.
LISTEN cryptomonitor_ticks_changed;
SET cryptomonitor.ticks_changed_announced = on;

-- name: announce_ticks_changed
-- In the transaction that inserted them: which symbols got ticks ('INSERT ["a", "b"]', split
-- to stay under PostgreSQL's 8000-byte payload limit). Sent at commit, like the trigger's.
SELECT pg_notify('cryptomonitor_ticks_changed', payload) FROM unnest(%(payloads)b::text[]) AS payload;

-- name: copy_ticks
-- The fast path of a batch the writer's cache proves new (cryptomonitor/writer.py):
-- straight into ticks, no staging, no ON CONFLICT. A duplicate fails the whole COPY
-- (unique_violation) and the batch is redone the idempotent way.
COPY ticks (time, symbol, price, volume_24h, source, volume) FROM STDIN (FORMAT binary);

-- name: newest_tick
-- The newest stored tick of one symbol (the demo continues after it).
SELECT max(time) FROM ticks WHERE symbol = %(symbol)s;

-- name: newest_ticks
-- Backfill at start-up: the newest stored tick of each symbol (NULL: none), one index probe
-- per symbol.
SELECT s, (SELECT max(time) FROM ticks WHERE symbol = s)
FROM unnest(%(symbols)s::text[]) AS s;

-- name: backfill_done_until
-- Where the same backfill (symbol, source, period) stopped before, if it ran.
SELECT done_until FROM backfill_progress
WHERE symbol = %(symbol)s AND source = %(source)s AND period_from = %(start)s;

-- name: backfill_stored_until
INSERT INTO backfill_progress (symbol, source, period_from, done_until)
VALUES (%(symbol)s, %(source)s, %(start)s, %(until)s)
ON CONFLICT (symbol, source, period_from) DO UPDATE
SET done_until = greatest(backfill_progress.done_until, EXCLUDED.done_until),
    updated_at = now();

-- name: refresh_candles
-- TimescaleDB: materialize one continuous aggregate over a backfilled range (the owner of the
-- aggregates may; the policies cover the last day, 7 days and 30 days on their own).
CALL refresh_continuous_aggregate(%(view)s::regclass, %(start)s::timestamptz,
                                  %(end)s::timestamptz);
