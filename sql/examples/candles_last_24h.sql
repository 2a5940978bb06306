-- Hourly candles of one coin over the last 24 hours, newest last.
-- Use ohlcv_1m or ohlcv_1d for other resolutions.
-- The newest bucket is still open: its close is the latest price, its ticks still growing.
-- Run with psql: psql -d cryptomonitor -v symbol=demo-btc -f sql/examples/candles_last_24h.sql
-- (default symbol: bitcoin).
\if :{?symbol}
\else
  \set symbol bitcoin
\endif
SELECT bucket, open, high, low, close,
       volume,            -- traded in the hour (NULL for sources that do not say, as CoinGecko)
       volume_24h,        -- the rolling 24 h volume as of the bucket's last tick
       ticks              -- how many ticks the candle is made of
FROM ohlcv_1h
WHERE symbol = :'symbol'
  AND bucket > now() - INTERVAL '24 hours'
ORDER BY bucket;
