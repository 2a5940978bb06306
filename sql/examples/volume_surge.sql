-- Traded-volume surges: per coin, the volume traded in the last 5 minutes against its average
-- 5 minutes over the last hour, biggest ratio first; `surge` when above 3x. Only sources that
-- give the traded volume fill it (binance-ws, kraken-ws, replays; CoinGecko's is NULL).
-- The windows are whole minute buckets: the current one and the 4 (59) before it.
-- Run with psql: psql -d cryptomonitor -f sql/examples/volume_surge.sql
WITH minutes AS (
    SELECT symbol, bucket, volume,
           bucket >= date_bin(INTERVAL '1 minute', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00')
                     - INTERVAL '4 minutes' AS recent
    FROM ohlcv_1m
    WHERE bucket >= date_bin(INTERVAL '1 minute', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00')
                    - INTERVAL '59 minutes'
      AND volume IS NOT NULL
), per_coin AS (
    SELECT symbol,
           coalesce(sum(volume) FILTER (WHERE recent), 0) AS volume_5m,
           sum(volume) / 12                               AS avg_5m_over_1h
    FROM minutes
    GROUP BY symbol
)
SELECT symbol, volume_5m, round(avg_5m_over_1h, 8) AS avg_5m_over_1h,
       round(volume_5m / NULLIF(avg_5m_over_1h, 0), 2) AS ratio,
       volume_5m > 3 * avg_5m_over_1h AS surge
FROM per_coin
ORDER BY ratio DESC NULLS LAST, symbol;
