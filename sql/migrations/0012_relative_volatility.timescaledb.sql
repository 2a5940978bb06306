-- 0012 on TimescaleDB: volatility_24h gains `mean`, `cv_pct` (stddev / mean * 100) and
-- `cv_rank`, at the end; 0012_relative_volatility.postgres.sql says why and what they mean.
-- The mean is the exact sum of the window's minute price sums (ohlcv_1m.price_sum) over
-- their tick counts. Everything else is as 0011 defined it; CREATE OR REPLACE keeps the
-- view's grants.
CREATE OR REPLACE VIEW volatility_24h AS
WITH minutes AS (
    SELECT symbol, ticks::float8 AS n, price_sum AS s, price_sum / ticks AS mean,
           price_var_pop * ticks AS m2
    FROM ohlcv_1m
    WHERE bucket >= last_24h_start()  -- minute buckets: the same ticks as time >= ...
), totals AS (
    SELECT symbol, sum(n) AS n, sum(n * mean) / sum(n) AS mean, sum(s) / sum(n) AS price_mean
    FROM minutes GROUP BY symbol
), stats AS (
    SELECT t.symbol, t.n::bigint AS samples, t.price_mean,
           CASE WHEN t.n > 1 THEN
               sqrt(greatest(sum(m.m2 + m.n * (m.mean - t.mean) ^ 2) / (t.n - 1), 0))
           END AS stddev
    FROM totals t JOIN minutes m USING (symbol)
    GROUP BY t.symbol, t.n, t.mean, t.price_mean
), relative AS (
    SELECT symbol, stddev, samples, price_mean,
           stddev / NULLIF(price_mean, 0) * 100 AS cv_pct
    FROM stats
)
SELECT symbol, stddev, samples, rank() OVER (ORDER BY stddev DESC NULLS LAST) AS rank,
       price_mean AS mean, cv_pct, rank() OVER (ORDER BY cv_pct DESC NULLS LAST) AS cv_rank
FROM relative;
