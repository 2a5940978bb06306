-- 0002 on TimescaleDB: ticks becomes a hypertable in 1-day chunks. create_hypertable also
-- creates ticks_time_idx (time DESC), the index the plain flavour creates by hand.
SELECT create_hypertable('ticks', by_range('time', INTERVAL '1 day'));
