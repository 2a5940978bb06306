-- The most volatile coins of the last 24 hours: sample standard deviation of the price
-- (rank 1 = most volatile). A coin with one tick has no standard deviation and ranks last.
-- The standard deviation is in price units: divide by the mean price to compare coins of
-- very different prices (the coefficient of variation), as the second query does.
SELECT rank, symbol, stddev, samples
FROM volatility_24h
ORDER BY rank
LIMIT 10;

SELECT v.symbol, v.stddev / avg(t.price) AS relative_stddev
FROM volatility_24h v
JOIN ticks t ON t.symbol = v.symbol
            AND t.time > now() - INTERVAL '24 hours'
GROUP BY v.symbol, v.stddev
ORDER BY relative_stddev DESC NULLS LAST;
