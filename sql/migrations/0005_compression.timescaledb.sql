-- 0005 on TimescaleDB: compressed (columnstore) chunks of ticks are segmented by symbol and
-- ordered by time, so one coin's history decompresses alone. WHEN chunks are compressed, and
-- how long raw ticks are kept, are settings applied at start-up (cryptomonitor/policies.py).
ALTER TABLE ticks SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol',
    timescaledb.compress_orderby = 'time DESC'
);
