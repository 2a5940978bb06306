-- 0003 on plain PostgreSQL: the candles are views over ticks, always current, with the names,
-- columns and answers of the TimescaleDB continuous aggregates (0003_candles.timescaledb.sql).
-- date_bin with a UTC origin buckets like time_bucket, whatever the session's TimeZone.

CREATE VIEW ohlcv_1m AS
SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       symbol,
       (array_agg(price ORDER BY time))[1]            AS open,
       max(price)                                     AS high,
       min(price)                                     AS low,
       (array_agg(price ORDER BY time DESC))[1]       AS close,
       (array_agg(volume_24h ORDER BY time DESC))[1]  AS volume,
       count(*)                                       AS ticks,
       sum(price)                                     AS price_sum,
       var_pop(price)                                 AS price_var_pop,
       sum(volume_24h)                                AS volume_sum,
       count(volume_24h)                              AS volume_samples
FROM ticks
GROUP BY 1, 2;

CREATE VIEW ohlcv_1h AS
SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       symbol,
       (array_agg(price ORDER BY time))[1]            AS open,
       max(price)                                     AS high,
       min(price)                                     AS low,
       (array_agg(price ORDER BY time DESC))[1]       AS close,
       (array_agg(volume_24h ORDER BY time DESC))[1]  AS volume,
       count(*)                                       AS ticks
FROM ticks
GROUP BY 1, 2;

CREATE VIEW ohlcv_1d AS
SELECT date_bin(INTERVAL '1 day', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       symbol,
       (array_agg(price ORDER BY time))[1]            AS open,
       max(price)                                     AS high,
       min(price)                                     AS low,
       (array_agg(price ORDER BY time DESC))[1]       AS close,
       (array_agg(volume_24h ORDER BY time DESC))[1]  AS volume,
       count(*)                                       AS ticks
FROM ticks
GROUP BY 1, 2;

-- The window of last_24h_start(), as in the TimescaleDB flavour, read straight from ticks
-- through ticks_time_idx.
CREATE VIEW volatility_24h AS
WITH stats AS (
    SELECT symbol, stddev_samp(price) AS stddev, count(*) AS samples
    FROM ticks
    WHERE time >= last_24h_start()
    GROUP BY symbol
)
SELECT symbol, stddev, samples, rank() OVER (ORDER BY stddev DESC NULLS LAST) AS rank
FROM stats;
