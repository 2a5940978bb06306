-- Each minute of the last 6 hours of one coin: its close against its trailing 5-minute and
-- 1-hour averages, as the alert rules see them (the row of minute m covers the ticks in
-- [m + 1 min - window, m + 1 min)), and how far the close is from the 1-hour average.
-- Run with psql: psql -d cryptomonitor -v symbol=demo-btc -f sql/examples/price_vs_average.sql
-- (default symbol: bitcoin).
\if :{?symbol}
\else
  \set symbol bitcoin
\endif
SELECT c.bucket, c.close, r.price_avg_5m, r.price_avg_1h,
       round(((c.close / r.price_avg_1h - 1) * 100)::numeric, 3) AS pct_from_1h_avg
FROM ohlcv_1m c
JOIN rolling_averages r USING (bucket, symbol)
WHERE c.symbol = :'symbol'
  AND c.bucket > now() - INTERVAL '6 hours'
ORDER BY c.bucket;
