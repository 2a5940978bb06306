-- 0014 on TimescaleDB: volatility_24h's cv_rank ranks on cv_pct rounded to 9 decimals (of a
-- percent), so coefficients of variation equal but for the last digits of float arithmetic
-- share a rank, as the docs say ties do. A price and its double have the same coefficient of
-- variation, but the continuous aggregate's per-minute variances of the two are not exactly
-- in proportion (measured: 1,036 of 1,441 minutes differ in their last digits: its
-- materialisation sums in an order of its own), so their cv_pct differed in the 16th digit
-- and ranked them 1 and 2. cv_pct keeps its full digits; `rank` (by stddev) is unchanged.
-- Everything else is as 0012 defined it; 0014_rank_ties.postgres.sql does the same.
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
       price_mean AS mean, cv_pct,
       rank() OVER (ORDER BY round(cv_pct::numeric, 9) DESC NULLS LAST) AS cv_rank
FROM relative;
