-- 0014 on plain PostgreSQL: volatility_24h's cv_rank ranks on cv_pct rounded to 9 decimals
-- (of a percent), so coefficients of variation equal but for the last digits of float
-- arithmetic share a rank, as the docs say ties do. A price and its double have the same
-- coefficient of variation; computed in float8 from sums taken in different orders
-- (TimescaleDB's continuous aggregate materialises its per-minute variances so:
-- 0014_rank_ties.timescaledb.sql) they may differ in the 16th digit, which ranked them 1 and
-- 2. cv_pct keeps its full digits; `rank` (by stddev, in price units of any magnitude) is
-- unchanged. Everything else is as 0012 defined it.
CREATE OR REPLACE VIEW volatility_24h AS
WITH bounds AS (
    SELECT l AS window_start,
           CASE WHEN h = l THEN h ELSE h + INTERVAL '1 hour' END AS first_hour
    FROM (SELECT last_24h_start() AS l,
                 date_bin(INTERVAL '1 hour', last_24h_start(),
                          TIMESTAMPTZ '2000-01-01 00:00:00+00') AS h) AS b
), parts AS (
    SELECT r.symbol, r.ticks::float8 AS n, r.price_sum AS s, r.price_sum / r.ticks AS mean,
           r.price_m2 AS m2
    FROM rollup_1h r, bounds b
    WHERE r.bucket >= b.first_hour
    UNION ALL
    SELECT t.symbol, count(*)::float8, sum(t.price), avg(t.price), var_pop(t.price) * count(*)
    FROM ticks t, bounds b
    WHERE t.time >= b.window_start AND t.time < b.first_hour
    GROUP BY t.symbol
), totals AS (
    SELECT symbol, sum(n) AS n, sum(n * mean) / sum(n) AS mean, sum(s) / sum(n) AS price_mean
    FROM parts GROUP BY symbol
), stats AS (
    SELECT t.symbol, t.n::bigint AS samples, t.price_mean,
           CASE WHEN t.n > 1 THEN
               sqrt(greatest(sum(p.m2 + p.n * (p.mean - t.mean) ^ 2) / (t.n - 1), 0))
           END AS stddev
    FROM totals t JOIN parts p USING (symbol)
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
