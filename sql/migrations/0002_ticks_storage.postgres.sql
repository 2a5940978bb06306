-- 0002 on plain PostgreSQL: ticks stays an ordinary table; index it by time as a hypertable is.
CREATE INDEX ticks_time_idx ON ticks (time DESC);
