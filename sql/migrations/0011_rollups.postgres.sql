-- 0011 on plain PostgreSQL: exact rollups. The candle views stop being a GROUP BY over every
-- tick (8.8 s for 30 days of 1-second ticks of one symbol) and read summary tables kept by
-- triggers on ticks, in the transaction of each change, whoever makes it (the writer, a
-- backfill, psql, another program):
--
-- - INSERT (COPY too): the statement's new rows are summarised per (symbol, minute / hour /
--   day) and merged into rollup_1m / rollup_1h / rollup_1d: open and close by their tick's
--   time, high and low, counts and sums added, the sum of squared deviations combined exactly
--   (Chan et al.). Rows are merged in (symbol, bucket) order, so concurrent writers lock them
--   in one order and cannot deadlock on them.
-- - UPDATE, DELETE (retention, a correction): the buckets they touched are recomputed, the
--   minutes from ticks, the hours from the minutes, the days from the hours.
-- - TRUNCATE: the rollups are emptied.
--
-- The functions run as their owner (SECURITY DEFINER): a role allowed to write ticks keeps the
-- rollups right without any privilege on them. TimescaleDB's flavour keeps its continuous
-- aggregates (0003_candles.timescaledb.sql); the views here have the same names, columns and
-- answers. docs/design.md, "Rollups on plain PostgreSQL", says what they cost.

CREATE TABLE rollup_1m (
    symbol         text             NOT NULL,
    bucket         timestamptz      NOT NULL,
    open           double precision NOT NULL,
    open_time      timestamptz      NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    close_time     timestamptz      NOT NULL,
    volume         double precision,
    ticks          bigint           NOT NULL,
    price_sum      double precision NOT NULL,
    price_m2       double precision NOT NULL,
    volume_sum     double precision,
    volume_samples bigint           NOT NULL,
    PRIMARY KEY (symbol, bucket)
);
CREATE INDEX rollup_1m_bucket_idx ON rollup_1m (bucket);

CREATE TABLE rollup_1h (
    symbol     text             NOT NULL,
    bucket     timestamptz      NOT NULL,
    open       double precision NOT NULL,
    open_time  timestamptz      NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    close_time timestamptz      NOT NULL,
    volume     double precision,
    ticks      bigint           NOT NULL,
    PRIMARY KEY (symbol, bucket)
);

CREATE TABLE rollup_1d (LIKE rollup_1h INCLUDING ALL);

COMMENT ON TABLE rollup_1m IS
    'Plain PostgreSQL: ticks summarised per symbol and minute by triggers; read ohlcv_1m.';
COMMENT ON TABLE rollup_1h IS
    'Plain PostgreSQL: ticks summarised per symbol and hour by triggers; read ohlcv_1h.';
COMMENT ON TABLE rollup_1d IS
    'Plain PostgreSQL: ticks summarised per symbol and day by triggers; read ohlcv_1d.';
COMMENT ON COLUMN rollup_1m.volume IS 'volume_24h of the minute''s last tick (at close_time).';
COMMENT ON COLUMN rollup_1m.price_m2 IS 'Sum of squared deviations of the prices from their mean.';

-- The new rows of one INSERT or COPY statement, merged into the three rollups.
CREATE FUNCTION rollup_ticks_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    WITH m AS (
        SELECT symbol,
               date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
               (array_agg(price ORDER BY time))[1]           AS open,
               min(time)                                     AS open_time,
               max(price)                                    AS high,
               min(price)                                    AS low,
               (array_agg(price ORDER BY time DESC))[1]      AS close,
               max(time)                                     AS close_time,
               (array_agg(volume_24h ORDER BY time DESC))[1] AS volume,
               count(*)                                      AS ticks,
               sum(price)                                    AS price_sum,
               var_pop(price) * count(*)                     AS price_m2,
               sum(volume_24h)                               AS volume_sum,
               count(volume_24h)                             AS volume_samples
        FROM new_ticks
        GROUP BY 1, 2
    ), minutes AS (
        INSERT INTO rollup_1m AS r (symbol, bucket, open, open_time, high, low, close,
                                    close_time, volume, ticks, price_sum, price_m2,
                                    volume_sum, volume_samples)
        SELECT symbol, bucket, open, open_time, high, low, close, close_time, volume, ticks,
               price_sum, price_m2, volume_sum, volume_samples
        FROM m ORDER BY symbol, bucket
        ON CONFLICT (symbol, bucket) DO UPDATE SET
            open = CASE WHEN excluded.open_time < r.open_time THEN excluded.open ELSE r.open END,
            open_time = least(r.open_time, excluded.open_time),
            high = greatest(r.high, excluded.high),
            low = least(r.low, excluded.low),
            close = CASE WHEN excluded.close_time > r.close_time THEN excluded.close
                         ELSE r.close END,
            volume = CASE WHEN excluded.close_time > r.close_time THEN excluded.volume
                          ELSE r.volume END,
            close_time = greatest(r.close_time, excluded.close_time),
            ticks = r.ticks + excluded.ticks,
            price_sum = r.price_sum + excluded.price_sum,
            price_m2 = r.price_m2 + excluded.price_m2
                + (excluded.price_sum / excluded.ticks - r.price_sum / r.ticks) ^ 2
                  * r.ticks * excluded.ticks / (r.ticks + excluded.ticks),
            volume_sum = CASE WHEN r.volume_sum IS NULL THEN excluded.volume_sum
                              WHEN excluded.volume_sum IS NULL THEN r.volume_sum
                              ELSE r.volume_sum + excluded.volume_sum END,
            volume_samples = r.volume_samples + excluded.volume_samples
    ), hours AS (
        INSERT INTO rollup_1h AS r (symbol, bucket, open, open_time, high, low, close,
                                    close_time, volume, ticks)
        SELECT symbol, date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               (array_agg(open ORDER BY open_time))[1], min(open_time), max(high), min(low),
               (array_agg(close ORDER BY close_time DESC))[1], max(close_time),
               (array_agg(volume ORDER BY close_time DESC))[1], sum(ticks)
        FROM m GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (symbol, bucket) DO UPDATE SET
            open = CASE WHEN excluded.open_time < r.open_time THEN excluded.open ELSE r.open END,
            open_time = least(r.open_time, excluded.open_time),
            high = greatest(r.high, excluded.high),
            low = least(r.low, excluded.low),
            close = CASE WHEN excluded.close_time > r.close_time THEN excluded.close
                         ELSE r.close END,
            volume = CASE WHEN excluded.close_time > r.close_time THEN excluded.volume
                          ELSE r.volume END,
            close_time = greatest(r.close_time, excluded.close_time),
            ticks = r.ticks + excluded.ticks
    )
    INSERT INTO rollup_1d AS r (symbol, bucket, open, open_time, high, low, close, close_time,
                                volume, ticks)
    SELECT symbol, date_bin(INTERVAL '1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           (array_agg(open ORDER BY open_time))[1], min(open_time), max(high), min(low),
           (array_agg(close ORDER BY close_time DESC))[1], max(close_time),
           (array_agg(volume ORDER BY close_time DESC))[1], sum(ticks)
    FROM m GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (symbol, bucket) DO UPDATE SET
        open = CASE WHEN excluded.open_time < r.open_time THEN excluded.open ELSE r.open END,
        open_time = least(r.open_time, excluded.open_time),
        high = greatest(r.high, excluded.high),
        low = least(r.low, excluded.low),
        close = CASE WHEN excluded.close_time > r.close_time THEN excluded.close ELSE r.close END,
        volume = CASE WHEN excluded.close_time > r.close_time THEN excluded.volume
                      ELSE r.volume END,
        close_time = greatest(r.close_time, excluded.close_time),
        ticks = r.ticks + excluded.ticks;
    RETURN NULL;
END
$$;

-- Recompute the buckets of (symbol, minute) pairs from the ticks there are now: the minutes
-- from ticks, their hours from the minutes, their days from the hours. A bucket left without
-- ticks loses its row.
CREATE FUNCTION rollup_recompute(p_symbols text[], p_minutes timestamptz[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    CREATE TEMPORARY TABLE IF NOT EXISTS rollup_keys (
        symbol text, minute timestamptz, hour timestamptz, day timestamptz
    ) ON COMMIT DROP;
    TRUNCATE rollup_keys;
    INSERT INTO rollup_keys
    SELECT DISTINCT k.symbol, k.minute,
           date_bin(INTERVAL '1 hour', k.minute, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
           date_bin(INTERVAL '1 day', k.minute, TIMESTAMPTZ '2000-01-01 00:00:00+00')
    FROM unnest(p_symbols, p_minutes) AS k(symbol, minute);

    DELETE FROM rollup_1m r USING rollup_keys k
    WHERE r.symbol = k.symbol AND r.bucket = k.minute;
    INSERT INTO rollup_1m (symbol, bucket, open, open_time, high, low, close, close_time, volume,
                           ticks, price_sum, price_m2, volume_sum, volume_samples)
    SELECT k.symbol, k.minute,
           (array_agg(t.price ORDER BY t.time))[1], min(t.time), max(t.price), min(t.price),
           (array_agg(t.price ORDER BY t.time DESC))[1], max(t.time),
           (array_agg(t.volume_24h ORDER BY t.time DESC))[1], count(*), sum(t.price),
           var_pop(t.price) * count(*), sum(t.volume_24h), count(t.volume_24h)
    FROM rollup_keys k
    JOIN ticks t ON t.symbol = k.symbol AND t.time >= k.minute
                AND t.time < k.minute + INTERVAL '1 minute'
    GROUP BY k.symbol, k.minute ORDER BY 1, 2;

    DELETE FROM rollup_1h r USING (SELECT DISTINCT symbol, hour FROM rollup_keys) k
    WHERE r.symbol = k.symbol AND r.bucket = k.hour;
    INSERT INTO rollup_1h (symbol, bucket, open, open_time, high, low, close, close_time, volume,
                           ticks)
    SELECT k.symbol, k.hour,
           (array_agg(m.open ORDER BY m.open_time))[1], min(m.open_time), max(m.high),
           min(m.low), (array_agg(m.close ORDER BY m.close_time DESC))[1], max(m.close_time),
           (array_agg(m.volume ORDER BY m.close_time DESC))[1], sum(m.ticks)
    FROM (SELECT DISTINCT symbol, hour FROM rollup_keys) k
    JOIN rollup_1m m ON m.symbol = k.symbol AND m.bucket >= k.hour
                    AND m.bucket < k.hour + INTERVAL '1 hour'
    GROUP BY k.symbol, k.hour ORDER BY 1, 2;

    DELETE FROM rollup_1d r USING (SELECT DISTINCT symbol, day FROM rollup_keys) k
    WHERE r.symbol = k.symbol AND r.bucket = k.day;
    INSERT INTO rollup_1d (symbol, bucket, open, open_time, high, low, close, close_time, volume,
                           ticks)
    SELECT k.symbol, k.day,
           (array_agg(h.open ORDER BY h.open_time))[1], min(h.open_time), max(h.high),
           min(h.low), (array_agg(h.close ORDER BY h.close_time DESC))[1], max(h.close_time),
           (array_agg(h.volume ORDER BY h.close_time DESC))[1], sum(h.ticks)
    FROM (SELECT DISTINCT symbol, day FROM rollup_keys) k
    JOIN rollup_1h h ON h.symbol = k.symbol AND h.bucket >= k.day
                    AND h.bucket < k.day + INTERVAL '1 day'
    GROUP BY k.symbol, k.day ORDER BY 1, 2;
END
$$;

CREATE FUNCTION rollup_ticks_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM rollup_recompute(array_agg(symbol), array_agg(minute))
    FROM (SELECT DISTINCT symbol,
                 date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute
          FROM old_ticks) AS k;
    RETURN NULL;
END
$$;

CREATE FUNCTION rollup_ticks_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM rollup_recompute(array_agg(symbol), array_agg(minute))
    FROM (SELECT symbol,
                 date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute
          FROM old_ticks
          UNION
          SELECT symbol,
                 date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')
          FROM new_ticks) AS k;
    RETURN NULL;
END
$$;

CREATE FUNCTION rollup_ticks_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    TRUNCATE rollup_1m, rollup_1h, rollup_1d;
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

-- The ticks stored before this migration: every minute of theirs, summarised once.
SELECT rollup_recompute(array_agg(symbol), array_agg(minute))
FROM (SELECT DISTINCT symbol,
             date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute
      FROM ticks) AS k
HAVING count(*) > 0;

-- The views: the names, columns and answers they had, read from the rollups.
CREATE OR REPLACE VIEW ohlcv_1m AS
SELECT bucket, symbol, open, high, low, close, volume, ticks, price_sum,
       price_m2 / ticks AS price_var_pop, volume_sum, volume_samples
FROM rollup_1m;

CREATE OR REPLACE VIEW ohlcv_1h AS
SELECT bucket, symbol, open, high, low, close, volume, ticks FROM rollup_1h;

CREATE OR REPLACE VIEW ohlcv_1d AS
SELECT bucket, symbol, open, high, low, close, volume, ticks FROM rollup_1d;

-- Volatility from the 1-minute rollups, as the TimescaleDB flavour computes it from its
-- 1-minute aggregate (0003_candles.timescaledb.sql): per minute n, mean and M2, combined
-- exactly into the sample standard deviation of the window's ticks.
CREATE OR REPLACE VIEW volatility_24h AS
WITH minutes AS (
    SELECT symbol, ticks::float8 AS n, price_sum / ticks AS mean, price_m2 AS m2
    FROM rollup_1m
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

GRANT SELECT ON rollup_1m, rollup_1h, rollup_1d TO cryptomonitor_reader, cryptomonitor_writer;
