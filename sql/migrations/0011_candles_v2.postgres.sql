-- 0011 on plain PostgreSQL: the candles, version 2. Two changes, made together so that no
-- version of the schema holds one without the other:
--
-- 1. The volume traded (issue 17). ticks.volume is the volume traded in the interval a tick
--    ends (a kline's V, a second of trades; NULL where the source does not say, as
--    CoinGecko's rolling figures). The candles' `volume` becomes what every exchange's candle
--    means by V: the sum of the traded volume of the bucket's ticks, exact (numeric: a float8
--    volume is read as its 15 significant digits, so the sum of exchange figures of up to 15
--    significant digits is their exact decimal sum), NULL when no tick says. The rolling
--    24-hour figure of the bucket's last tick, which `volume` held before, is `volume_24h`;
--    the sums behind the averages of volume_24h are `volume_24h_sum` and `volume_24h_samples`.
--    TimescaleDB's flavour does the same (0011_candles_v2.timescaledb.sql).
--
-- 2. An exact hourly rollup. ohlcv_1h, ohlcv_1d and volatility_24h stop being a GROUP BY over
--    every tick (8.8 s for 30 days of 1-second ticks of one symbol) and read rollup_1h, kept
--    by triggers on ticks in the transaction of each change, whoever makes it (the writer, a
--    backfill, psql, another program):
--    - INSERT (COPY too): the statement's new rows are summarised per (symbol, hour) and
--      merged into rollup_1h: open and close by their tick's time, high and low, counts and
--      sums added, the sum of squared deviations combined exactly (Chan et al.). Rows are
--      merged in (symbol, bucket) order, so concurrent writers lock them in one order and
--      cannot deadlock on them.
--    - UPDATE, DELETE (a correction, a clean-up): the hours they touched are recomputed from
--      the ticks there are now.
--    - TRUNCATE: the rollup is emptied.
--    One hourly row per symbol, not one a minute too: each tick costs one merged row, and the
--    rows stay few enough to aggregate on the fly: ohlcv_1d is the hours grouped by day (720
--    rows for 30 days), volatility_24h the last full hours plus the raw ticks of the first,
--    partial one. ohlcv_1m and rolling_averages stay views over ticks.
--    The functions run as their owner (SECURITY DEFINER, with a search_path no other role can
--    put objects ahead in): a role allowed to write ticks keeps the rollup right without any
--    privilege on it, and no role but the owner may call rollup_recompute itself.
--    TimescaleDB keeps its continuous aggregates; the views here have the same names, columns
--    and answers. docs/design.md, "Rollups on plain PostgreSQL", says what they cost.

ALTER TABLE ticks ADD COLUMN volume double precision
    CONSTRAINT ticks_traded_volume_valid CHECK (volume IS NULL OR (volume >= 0 AND volume < 'Infinity'));
COMMENT ON COLUMN ticks.volume IS
    'Volume traded in the interval this tick ends (a kline, a second of trades); NULL: unknown.';

CREATE TABLE rollup_1h (
    symbol     text             NOT NULL,
    bucket     timestamptz      NOT NULL,
    open       double precision NOT NULL,
    open_time  timestamptz      NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    close_time timestamptz      NOT NULL,
    volume_24h double precision,
    ticks      bigint           NOT NULL,
    price_sum  double precision NOT NULL,
    price_m2   double precision NOT NULL,
    volume     numeric,
    PRIMARY KEY (symbol, bucket)
) WITH (fillfactor = 70);  -- room on the page: a merge is a HOT update, no index change

CREATE INDEX rollup_1h_bucket_idx ON rollup_1h (bucket);  -- volatility_24h: the last hours

COMMENT ON TABLE rollup_1h IS
    'Plain PostgreSQL: ticks summarised per symbol and hour by triggers; read ohlcv_1h.';
COMMENT ON COLUMN rollup_1h.volume_24h IS 'volume_24h of the hour''s last tick (at close_time).';
COMMENT ON COLUMN rollup_1h.volume IS 'Sum of the hour''s traded volume (NULL: no tick says).';
COMMENT ON COLUMN rollup_1h.price_m2 IS 'Sum of squared deviations of the prices from their mean.';

-- The new rows of one INSERT or COPY statement, merged into the rollup.
CREATE FUNCTION rollup_ticks_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO rollup_1h AS r (symbol, bucket, open, open_time, high, low, close, close_time,
                                volume_24h, ticks, price_sum, price_m2, volume)
    SELECT symbol, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           (array_agg(price ORDER BY time))[1], min(time), max(price), min(price),
           (array_agg(price ORDER BY time DESC))[1], max(time),
           (array_agg(volume_24h ORDER BY time DESC))[1], count(*), sum(price),
           var_pop(price) * count(*), sum(volume::numeric)
    FROM new_ticks
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (symbol, bucket) DO UPDATE SET
        open = CASE WHEN excluded.open_time < r.open_time THEN excluded.open ELSE r.open END,
        open_time = least(r.open_time, excluded.open_time),
        high = greatest(r.high, excluded.high),
        low = least(r.low, excluded.low),
        close = CASE WHEN excluded.close_time > r.close_time THEN excluded.close ELSE r.close END,
        volume_24h = CASE WHEN excluded.close_time > r.close_time THEN excluded.volume_24h
                          ELSE r.volume_24h END,
        close_time = greatest(r.close_time, excluded.close_time),
        ticks = r.ticks + excluded.ticks,
        price_sum = r.price_sum + excluded.price_sum,
        price_m2 = r.price_m2 + excluded.price_m2
            + (excluded.price_sum / excluded.ticks - r.price_sum / r.ticks) ^ 2
              * r.ticks * excluded.ticks / (r.ticks + excluded.ticks),
        volume = CASE WHEN r.volume IS NULL THEN excluded.volume
                      WHEN excluded.volume IS NULL THEN r.volume
                      ELSE r.volume + excluded.volume END;
    RETURN NULL;
END
$$;

-- Recompute the (symbol, hour) rows named from the ticks there are now; an hour left without
-- ticks loses its row.
CREATE FUNCTION rollup_recompute(p_symbols text[], p_hours timestamptz[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    DELETE FROM rollup_1h r USING unnest(p_symbols, p_hours) AS k(symbol, hour)
    WHERE r.symbol = k.symbol
      AND r.bucket = date_bin(INTERVAL '1 hour', k.hour, TIMESTAMPTZ '2000-01-01 00:00:00+00');
    INSERT INTO rollup_1h (symbol, bucket, open, open_time, high, low, close, close_time,
                           volume_24h, ticks, price_sum, price_m2, volume)
    SELECT k.symbol, k.hour,
           (array_agg(t.price ORDER BY t.time))[1], min(t.time), max(t.price), min(t.price),
           (array_agg(t.price ORDER BY t.time DESC))[1], max(t.time),
           (array_agg(t.volume_24h ORDER BY t.time DESC))[1], count(*), sum(t.price),
           var_pop(t.price) * count(*), sum(t.volume::numeric)
    FROM (SELECT DISTINCT symbol,
                 date_bin(INTERVAL '1 hour', hour, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour
          FROM unnest(p_symbols, p_hours) AS u(symbol, hour)) k
    JOIN ticks t ON t.symbol = k.symbol AND t.time >= k.hour
                AND t.time < k.hour + INTERVAL '1 hour'
    GROUP BY k.symbol, k.hour ORDER BY 1, 2;
END
$$;

CREATE FUNCTION rollup_ticks_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM rollup_recompute(array_agg(symbol), array_agg(hour))
    FROM (SELECT DISTINCT symbol,
                 date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour
          FROM old_ticks) AS k;
    RETURN NULL;
END
$$;

CREATE FUNCTION rollup_ticks_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM rollup_recompute(array_agg(symbol), array_agg(hour))
    FROM (SELECT symbol,
                 date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour
          FROM old_ticks
          UNION
          SELECT symbol, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')
          FROM new_ticks) AS k;
    RETURN NULL;
END
$$;

CREATE FUNCTION rollup_ticks_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    TRUNCATE rollup_1h;
    RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables only on single-event triggers: one trigger per event.
CREATE TRIGGER ticks_rollup_insert AFTER INSERT ON ticks
    REFERENCING NEW TABLE AS new_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_ticks_inserted();
CREATE TRIGGER ticks_rollup_update AFTER UPDATE ON ticks
    REFERENCING OLD TABLE AS old_ticks NEW TABLE AS new_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_ticks_updated();
CREATE TRIGGER ticks_rollup_delete AFTER DELETE ON ticks
    REFERENCING OLD TABLE AS old_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_ticks_deleted();
CREATE TRIGGER ticks_rollup_truncate AFTER TRUNCATE ON ticks
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_ticks_truncated();

-- The ticks stored before this migration: every hour of theirs, summarised once.
SELECT rollup_recompute(array_agg(symbol), array_agg(hour))
FROM (SELECT DISTINCT symbol,
             date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour
      FROM ticks) AS k
HAVING count(*) > 0;

-- The views: the names and answers they had, with the traded volume and volume_24h, from the
-- rollup (ohlcv_1m and rolling_averages from ticks). A view's columns cannot be renamed in
-- place: they are made again. The hours of a day are disjoint, so its first hour's open is
-- the day's open (as TimescaleDB's first(open, bucket)).
DROP VIEW rolling_averages;
DROP VIEW ohlcv_1m;
DROP VIEW ohlcv_1h;
DROP VIEW ohlcv_1d;

CREATE VIEW ohlcv_1m AS
SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       symbol,
       (array_agg(price ORDER BY time))[1]            AS open,
       max(price)                                     AS high,
       min(price)                                     AS low,
       (array_agg(price ORDER BY time DESC))[1]       AS close,
       sum(volume::numeric)                           AS volume,
       (array_agg(volume_24h ORDER BY time DESC))[1]  AS volume_24h,
       count(*)                                       AS ticks,
       sum(price)                                     AS price_sum,
       var_pop(price)                                 AS price_var_pop,
       sum(volume_24h)                                AS volume_24h_sum,
       count(volume_24h)                              AS volume_24h_samples
FROM ticks
GROUP BY 1, 2;

CREATE VIEW ohlcv_1h AS
SELECT bucket, symbol, open, high, low, close, volume, volume_24h, ticks FROM rollup_1h;

CREATE VIEW ohlcv_1d AS
SELECT date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       symbol,
       (array_agg(open ORDER BY bucket))[1]              AS open,
       max(high)                                         AS high,
       min(low)                                          AS low,
       (array_agg(close ORDER BY bucket DESC))[1]        AS close,
       sum(volume)                                       AS volume,
       (array_agg(volume_24h ORDER BY bucket DESC))[1]   AS volume_24h,
       sum(ticks)::bigint                                AS ticks
FROM rollup_1h
GROUP BY 1, 2;

CREATE VIEW rolling_averages AS
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

-- Volatility over the window of last_24h_start(): its whole hours from the rollup, the ticks
-- of its first, partial hour from ticks; per part n, mean and M2, combined exactly (as the
-- TimescaleDB flavour combines its minutes) into the sample standard deviation.
CREATE OR REPLACE VIEW volatility_24h AS
WITH bounds AS (
    SELECT l AS window_start,
           CASE WHEN h = l THEN h ELSE h + INTERVAL '1 hour' END AS first_hour
    FROM (SELECT last_24h_start() AS l,
                 date_bin(INTERVAL '1 hour', last_24h_start(),
                          TIMESTAMPTZ '2000-01-01 00:00:00+00') AS h) AS b
), parts AS (
    SELECT r.symbol, r.ticks::float8 AS n, r.price_sum / r.ticks AS mean, r.price_m2 AS m2
    FROM rollup_1h r, bounds b
    WHERE r.bucket >= b.first_hour
    UNION ALL
    SELECT t.symbol, count(*)::float8, avg(t.price), var_pop(t.price) * count(*)
    FROM ticks t, bounds b
    WHERE t.time >= b.window_start AND t.time < b.first_hour
    GROUP BY t.symbol
), totals AS (
    SELECT symbol, sum(n) AS n, sum(n * mean) / sum(n) AS mean FROM parts GROUP BY symbol
), stats AS (
    SELECT t.symbol, t.n::bigint AS samples,
           CASE WHEN t.n > 1 THEN
               sqrt(greatest(sum(p.m2 + p.n * (p.mean - t.mean) ^ 2) / (t.n - 1), 0))
           END AS stddev
    FROM totals t JOIN parts p USING (symbol)
    GROUP BY t.symbol, t.n, t.mean
)
SELECT symbol, stddev, samples, rank() OVER (ORDER BY stddev DESC NULLS LAST) AS rank
FROM stats;

GRANT SELECT ON rollup_1h TO cryptomonitor_reader, cryptomonitor_writer;
-- Only the triggers recompute (as the owner); nobody may call it to make rows of their own.
REVOKE EXECUTE ON FUNCTION rollup_recompute(text[], timestamptz[]) FROM PUBLIC;
GRANT SELECT ON ohlcv_1m, ohlcv_1h, ohlcv_1d, rolling_averages
    TO cryptomonitor_reader, cryptomonitor_writer;
