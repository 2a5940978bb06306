-- The table cryptofeed's Postgres backend (TradePostgres) inserts into, as its own
-- examples/postgres_tables.sql defines it (cryptofeed 2.4.1): a serial key, timestamps
-- without time zone, NUMERIC(64, 32) amounts and prices. Used by bench/peer.py only.
CREATE TABLE IF NOT EXISTS trades (
    id serial PRIMARY KEY,
    timestamp TIMESTAMP,
    receipt_timestamp TIMESTAMP,
    exchange VARCHAR(32),
    symbol VARCHAR(32),
    side VARCHAR(8),
    amount NUMERIC(64, 32),
    price NUMERIC(64, 32),
    trade_id VARCHAR(64),
    order_type VARCHAR(32)
);
