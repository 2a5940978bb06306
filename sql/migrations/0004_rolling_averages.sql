-- 0004: trailing averages per symbol and minute, from the 1-minute sums and counts (exact
-- whatever the number of ticks in each minute). The row of minute m averages the ticks in
-- [m + 1 min - window, m + 1 min): the same window trailing_window(symbol, m + 1 min, window)
-- gives, which is the window the alert rules use. Minutes without ticks have no row.
CREATE VIEW rolling_averages AS
SELECT bucket,
       symbol,
       sum(price_sum) OVER w5m / sum(ticks) OVER w5m                         AS price_avg_5m,
       (sum(ticks) OVER w5m)::bigint                                         AS price_samples_5m,
       sum(price_sum) OVER w1h / sum(ticks) OVER w1h                         AS price_avg_1h,
       (sum(ticks) OVER w1h)::bigint                                         AS price_samples_1h,
       sum(volume_sum) OVER w5m / NULLIF(sum(volume_samples) OVER w5m, 0)    AS volume_avg_5m,
       (sum(volume_samples) OVER w5m)::bigint                                AS volume_samples_5m,
       sum(volume_sum) OVER w1h / NULLIF(sum(volume_samples) OVER w1h, 0)    AS volume_avg_1h,
       (sum(volume_samples) OVER w1h)::bigint                                AS volume_samples_1h
FROM ohlcv_1m
WINDOW w5m AS (PARTITION BY symbol ORDER BY bucket
               RANGE BETWEEN INTERVAL '4 minutes' PRECEDING AND CURRENT ROW),
       w1h AS (PARTITION BY symbol ORDER BY bucket
               RANGE BETWEEN INTERVAL '59 minutes' PRECEDING AND CURRENT ROW);

COMMENT ON VIEW rolling_averages IS
    'Per symbol and minute m: averages over [m + 1 min - window, m + 1 min), from 1-minute sums.';
