-- cryptomonitor: no-transaction
-- 0011 on TimescaleDB: the candles, version 2: the volume traded, in ticks and in the candles
-- (issue 17); the same names, columns and answers as 0011_candles_v2.postgres.sql, which says
-- what they mean (and adds there the hourly rollup this flavour's aggregates make needless).
--
-- A continuous aggregate's columns cannot be changed: the candles are made again. In a
-- database with ticks the old ones are renamed, not dropped (ohlcv_1m_before_0011, ...; their
-- refresh policies removed): they hold the candles of ticks that the retention policy may
-- since have dropped. Drop them once you do not need those. The new ones are materialized
-- from the ticks there are before their policies start (see below). Adding a column with a
-- CHECK to a hypertable with compression needs TimescaleDB 2.20 or later (compose: 2.28.3).
-- Every statement here is idempotent (a rerun after a failure finishes the job).

ALTER TABLE ticks ADD COLUMN IF NOT EXISTS volume double precision
    CONSTRAINT ticks_traded_volume_valid CHECK (volume IS NULL OR (volume >= 0 AND volume < 'Infinity'));
COMMENT ON COLUMN ticks.volume IS
    'Volume traded in the interval this tick ends (a kline, a second of trades); NULL: unknown.';

DROP VIEW IF EXISTS rolling_averages;
DROP VIEW IF EXISTS volatility_24h;

DO $$
BEGIN
    -- Only while the old aggregates are there (a rerun after a failure finds them gone).
    IF to_regclass('public.ohlcv_1m') IS NOT NULL
       AND NOT EXISTS (SELECT FROM information_schema.columns
                       WHERE table_schema = 'public' AND table_name = 'ohlcv_1m'
                         AND column_name = 'volume_24h') THEN
        IF NOT EXISTS (SELECT FROM ticks) THEN  -- a new database: nothing to keep
            DROP MATERIALIZED VIEW IF EXISTS ohlcv_1d;
            DROP MATERIALIZED VIEW IF EXISTS ohlcv_1h;
            DROP MATERIALIZED VIEW IF EXISTS ohlcv_1m;
        ELSE
            PERFORM remove_continuous_aggregate_policy(view, if_exists => true)
            FROM unnest(ARRAY['ohlcv_1d', 'ohlcv_1h', 'ohlcv_1m']::regclass[]) AS view;
            ALTER MATERIALIZED VIEW ohlcv_1d RENAME TO ohlcv_1d_before_0011;
            ALTER MATERIALIZED VIEW ohlcv_1h RENAME TO ohlcv_1h_before_0011;
            ALTER MATERIALIZED VIEW ohlcv_1m RENAME TO ohlcv_1m_before_0011;
        END IF;
    END IF;
END
$$;

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       symbol,
       first(price, time)      AS open,
       max(price)              AS high,
       min(price)              AS low,
       last(price, time)       AS close,
       sum(volume::numeric)    AS volume,
       last(volume_24h, time)  AS volume_24h,
       count(*)                AS ticks,
       sum(price)              AS price_sum,
       var_pop(price)          AS price_var_pop,
       sum(volume_24h)         AS volume_24h_sum,
       count(volume_24h)       AS volume_24h_samples
FROM ticks
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       symbol,
       first(open, bucket)       AS open,
       max(high)                 AS high,
       min(low)                  AS low,
       last(close, bucket)       AS close,
       sum(volume)               AS volume,
       last(volume_24h, bucket)  AS volume_24h,
       sum(ticks)::bigint        AS ticks
FROM ohlcv_1m
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
       symbol,
       first(open, bucket)       AS open,
       max(high)                 AS high,
       min(low)                  AS low,
       last(close, bucket)       AS close,
       sum(volume)               AS volume,
       last(volume_24h, bucket)  AS volume_24h,
       sum(ticks)::bigint        AS ticks
FROM ohlcv_1h
GROUP BY 1, 2
WITH NO DATA;

-- Materialized now, up to where their policies stop (each policy's end_offset): the policies
-- only look back 1, 7 and 30 days, and an aggregate answers from ticks in real time only above
-- what it has materialized, so without this the candles of older ticks would vanish from the
-- views at the first policy run. On a large history this takes a while (a refresh of the
-- whole history, as after the first load: 45.7 s for 26 million ticks on this project's
-- machine, docs/benchmarks.md); a new database has nothing to do.
CALL refresh_continuous_aggregate('ohlcv_1m', NULL,
    date_bin(INTERVAL '1 minute', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00') - INTERVAL '1 minute');
CALL refresh_continuous_aggregate('ohlcv_1h', NULL,
    date_bin(INTERVAL '1 hour', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00') - INTERVAL '1 hour');
CALL refresh_continuous_aggregate('ohlcv_1d', NULL,
    date_bin(INTERVAL '1 day', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00') - INTERVAL '1 day');

SELECT add_continuous_aggregate_policy('ohlcv_1m', start_offset => INTERVAL '1 day',
    end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute',
    if_not_exists => true);
SELECT add_continuous_aggregate_policy('ohlcv_1h', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes',
    if_not_exists => true);
SELECT add_continuous_aggregate_policy('ohlcv_1d', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour',
    if_not_exists => true);

-- As 0003 and 0004 defined them, on the new aggregate's renamed sums.
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

CREATE OR REPLACE VIEW rolling_averages AS
SELECT bucket,
       symbol,
       sum(price_sum) OVER w5m / sum(ticks) OVER w5m                                 AS price_avg_5m,
       (sum(ticks) OVER w5m)::bigint                                                 AS price_samples_5m,
       sum(price_sum) OVER w1h / sum(ticks) OVER w1h                                 AS price_avg_1h,
       (sum(ticks) OVER w1h)::bigint                                                 AS price_samples_1h,
       sum(volume_24h_sum) OVER w5m / NULLIF(sum(volume_24h_samples) OVER w5m, 0)    AS volume_avg_5m,
       (sum(volume_24h_samples) OVER w5m)::bigint                                    AS volume_samples_5m,
       sum(volume_24h_sum) OVER w1h / NULLIF(sum(volume_24h_samples) OVER w1h, 0)    AS volume_avg_1h,
       (sum(volume_24h_samples) OVER w1h)::bigint                                    AS volume_samples_1h
FROM ohlcv_1m
WINDOW w5m AS (PARTITION BY symbol ORDER BY bucket
               RANGE BETWEEN INTERVAL '4 minutes' PRECEDING AND CURRENT ROW),
       w1h AS (PARTITION BY symbol ORDER BY bucket
               RANGE BETWEEN INTERVAL '59 minutes' PRECEDING AND CURRENT ROW);

COMMENT ON VIEW rolling_averages IS
    'Per symbol and minute m: averages of price and volume_24h over [m + 1 min - window, m + 1 min).';

GRANT SELECT ON ohlcv_1m, ohlcv_1h, ohlcv_1d, volatility_24h, rolling_averages
    TO cryptomonitor_reader, cryptomonitor_writer;
