-- cryptomonitor: no-transaction
-- 0003 on TimescaleDB: candles as continuous aggregates, 1h stacked on 1m and 1d on 1h, with
-- real-time aggregation (materialized_only = false) so the newest, still-open bucket is there.
-- Continuous-aggregate DDL refuses transactions: every statement here is idempotent.
-- The plain-PostgreSQL flavour (0003_candles.postgres.sql) defines the same names and columns.

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       symbol,
       first(price, time)      AS open,
       max(price)              AS high,
       min(price)              AS low,
       last(price, time)       AS close,
       last(volume_24h, time)  AS volume,
       count(*)                AS ticks,
       sum(price)              AS price_sum,
       var_pop(price)          AS price_var_pop,
       sum(volume_24h)         AS volume_sum,
       count(volume_24h)       AS volume_samples
FROM ticks
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       symbol,
       first(open, bucket)     AS open,
       max(high)               AS high,
       min(low)                AS low,
       last(close, bucket)     AS close,
       last(volume, bucket)    AS volume,
       sum(ticks)::bigint      AS ticks
FROM ohlcv_1m
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
       symbol,
       first(open, bucket)     AS open,
       max(high)               AS high,
       min(low)                AS low,
       last(close, bucket)     AS close,
       last(volume, bucket)    AS volume,
       sum(ticks)::bigint      AS ticks
FROM ohlcv_1h
GROUP BY 1, 2
WITH NO DATA;

-- Refresh policies: each keeps its recent past materialized; older changes (a backfill) are
-- picked up by a manual CALL refresh_continuous_aggregate(...), see the README.
SELECT add_continuous_aggregate_policy('ohlcv_1m', start_offset => INTERVAL '1 day',
    end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute',
    if_not_exists => true);
SELECT add_continuous_aggregate_policy('ohlcv_1h', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes',
    if_not_exists => true);
SELECT add_continuous_aggregate_policy('ohlcv_1d', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour',
    if_not_exists => true);

-- Volatility from the 1-minute aggregates: per minute n, mean and M2 = n * var_pop, combined
-- exactly (Chan et al.) into the sample standard deviation of the window's ticks.
CREATE OR REPLACE VIEW volatility_24h AS
WITH minutes AS (
    SELECT symbol, ticks::float8 AS n, price_sum / ticks AS mean, price_var_pop * ticks AS m2
    FROM ohlcv_1m
    WHERE bucket >= last_24h_start()  -- minute buckets: the same ticks as time >= ...
), totals AS (
    SELECT symbol, sum(n) AS n, sum(n * mean) / sum(n) AS mean FROM minutes GROUP BY symbol
), stats AS (
    SELECT t.symbol, t.n::bigint AS samples,
           CASE WHEN t.n > 1 THEN
               sqrt(greatest(sum(m.m2 + m.n * (m.mean - t.mean) ^ 2) / (t.n - 1), 0))
           END AS stddev
    FROM totals t JOIN minutes m USING (symbol)
    GROUP BY t.symbol, t.n, t.mean
)
SELECT symbol, stddev, samples, rank() OVER (ORDER BY stddev DESC NULLS LAST) AS rank
FROM stats;
