-- The most volatile coins of the last 24 hours, relative to their price: the coefficient of
-- variation cv_pct (sample standard deviation / mean price * 100), comparable across coins of
-- very different prices (cv_rank 1 = most volatile). A coin with one tick has no standard
-- deviation and ranks last.
SELECT cv_rank, symbol, round(cv_pct::numeric, 4) AS cv_pct, mean, stddev, samples
FROM volatility_24h
ORDER BY cv_rank, symbol
LIMIT 10;

-- The same coins by the absolute standard deviation, in each one's price unit (rank): it
-- follows the price level (BTC's thousands of dollars above DOGE's fractions of a cent).
SELECT rank, symbol, stddev, samples
FROM volatility_24h
ORDER BY rank, symbol
LIMIT 10;
