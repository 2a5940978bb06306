-- The REST API (cryptomonitor/api/): read-only. Each query's columns are named as the fields
-- of its row class in cryptomonitor/api/rows.py, which reads them by name.
-- Named queries (`-- name: x`), loaded by cryptomonitor/db/queries.py; names are unique across
-- the files of sql/app/.

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
SELECT last_24h_start() AS start;

-- name: api_summary
SELECT count(price) AS samples, min(price) AS min, max(price) AS max, avg(price) AS avg,
       stddev_samp(price) AS stddev
FROM ticks
WHERE symbol = %(symbol)s AND time >= %(start)s AND time < %(end)s;

-- name: api_points
SELECT time, price, volume_24h FROM ticks
WHERE symbol = %(symbol)s AND time >= %(start)s AND time < %(end)s
ORDER BY time
LIMIT %(limit)s;

-- name: api_candles_1m
SELECT bucket, open, high, low, close, volume, volume_24h, ticks FROM ohlcv_1m
WHERE symbol = %(symbol)s AND bucket >= %(start)s AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_candles_1h
SELECT bucket, open, high, low, close, volume, volume_24h, ticks FROM ohlcv_1h
WHERE symbol = %(symbol)s AND bucket >= date_bin(INTERVAL '1 hour', %(start)s::timestamptz,
                                                 TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_candles_1d
SELECT bucket, open, high, low, close, volume, volume_24h, ticks FROM ohlcv_1d
WHERE symbol = %(symbol)s AND bucket >= date_bin(INTERVAL '1 day', %(start)s::timestamptz,
                                                 TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s;

-- name: api_ranking
-- volatility_24h's figures and both ranks, with each symbol's newest price and its change
-- since the last price of the hour up to 24 hours ago (NULL if it has none there: a price
-- older than that is not 24 hours old): two probes of ticks_pkey a symbol.
SELECT v.symbol, v.stddev, v.samples, v.rank, v.mean, v.cv_pct, v.cv_rank,
       count(*) OVER () AS total, l.price AS last_price,
       (l.price - d.price) / NULLIF(d.price, 0) * 100 AS change_24h_pct
FROM volatility_24h v
CROSS JOIN LATERAL (
    SELECT price FROM ticks t WHERE t.symbol = v.symbol ORDER BY time DESC LIMIT 1
) AS l
LEFT JOIN LATERAL (
    SELECT price FROM ticks t
    WHERE t.symbol = v.symbol AND t.time <= now() - INTERVAL '24 hours'
      AND t.time > now() - INTERVAL '25 hours'
    ORDER BY time DESC LIMIT 1
) AS d ON true;

-- name: api_alerts
SELECT alert_id, event, time, rule, symbol, metric, value, window_avg, window_samples,
       window_seconds, condition, threshold, episode_id, severity, figures
FROM alerts
WHERE time >= %(start)s AND time < %(end)s
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
ORDER BY time DESC, seq DESC
LIMIT %(limit)s;

-- name: api_newest_tick_age
SELECT extract(epoch FROM now() - max(time)) AS age_s FROM ticks WHERE time > now() - INTERVAL '7 days';

-- name: api_gaps
-- Holes in each symbol's ticks over [start, end): two consecutive ticks further apart than
-- min_seconds, and the time since a symbol's last tick in the period until `end` (or now).
-- Symbols: those with a tick in the period.
WITH t AS (
    SELECT symbol, time,
           lag(time) OVER (PARTITION BY symbol ORDER BY time) AS previous
    FROM ticks
    WHERE time >= %(start)s AND time < %(end)s
      AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)
), inside AS (
    SELECT symbol, previous AS gap_start, time AS gap_end FROM t WHERE previous IS NOT NULL
    UNION ALL
    SELECT symbol, max(time), least(%(end)s::timestamptz, now()) FROM t GROUP BY symbol
)
SELECT symbol, gap_start, gap_end, extract(epoch FROM gap_end - gap_start)::float8 AS seconds
FROM inside
WHERE gap_end - gap_start > make_interval(secs => %(min_seconds)s)
ORDER BY symbol, gap_start
LIMIT %(limit)s;
