-- Gaps in the data over the last 7 days: consecutive ticks of a coin more than 5 minutes
-- apart (an outage of the source, of CryptoMonitor, or a coin nobody traded). CoinGecko
-- refreshes every 20-60 s, so a healthy coin never gets near 5 minutes.
SELECT symbol, previous AS gap_start, time AS gap_end, time - previous AS gap
FROM (
    SELECT symbol, time, lag(time) OVER (PARTITION BY symbol ORDER BY time) AS previous
    FROM ticks
    WHERE time > now() - INTERVAL '7 days'
) t
WHERE time - previous > INTERVAL '5 minutes'
ORDER BY gap DESC;
