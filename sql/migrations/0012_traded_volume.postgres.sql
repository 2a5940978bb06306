-- 0012 on plain PostgreSQL: the volume traded, in ticks and in the candles (issue 17).
--
-- ticks.volume is the volume traded in the interval a tick ends (a kline's V, a second of
-- trades; NULL where the source does not say, as CoinGecko's rolling figures). The candles'
-- `volume` becomes what every exchange's candle means by V: the sum of the traded volume of
-- the bucket's ticks, exact (numeric: a float8 volume is read as its 15 significant digits,
-- so the sum of exchange figures of up to 15 significant digits is their exact decimal sum), NULL
-- when no tick says. The rolling 24-hour figure of the bucket's last tick, which `volume`
-- held before, is `volume_24h`; the sums behind the averages of volume_24h are
-- `volume_24h_sum` and `volume_24h_samples`. TimescaleDB's flavour does the same
-- (0012_traded_volume.timescaledb.sql).

ALTER TABLE ticks ADD COLUMN volume double precision
    CONSTRAINT ticks_traded_volume_valid CHECK (volume IS NULL OR (volume >= 0 AND volume < 'Infinity'));
COMMENT ON COLUMN ticks.volume IS
    'Volume traded in the interval this tick ends (a kline, a second of trades); NULL: unknown.';

ALTER TABLE rollup_1h RENAME COLUMN volume TO volume_24h;
ALTER TABLE rollup_1h ADD COLUMN volume numeric;
COMMENT ON COLUMN rollup_1h.volume_24h IS 'volume_24h of the hour''s last tick (at close_time).';
COMMENT ON COLUMN rollup_1h.volume IS 'Sum of the hour''s traded volume (NULL: no tick says).';
UPDATE rollup_1h r SET volume = (SELECT sum(t.volume::numeric) FROM ticks t
                                 WHERE t.symbol = r.symbol AND t.time >= r.bucket
                                   AND t.time < r.bucket + INTERVAL '1 hour');

CREATE OR REPLACE FUNCTION rollup_ticks_inserted() RETURNS trigger
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

CREATE OR REPLACE FUNCTION rollup_recompute(p_symbols text[], p_hours timestamptz[]) RETURNS void
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

-- The candle views, with their new and renamed columns (a view's columns cannot be renamed
-- in place; volatility_24h reads rollup_1h and stays).
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

GRANT SELECT ON ohlcv_1m, ohlcv_1h, ohlcv_1d, rolling_averages
    TO cryptomonitor_reader, cryptomonitor_writer;
-- CREATE OR REPLACE keeps the privileges: still only the owner may call it.
REVOKE EXECUTE ON FUNCTION rollup_recompute(text[], timestamptz[]) FROM PUBLIC;
