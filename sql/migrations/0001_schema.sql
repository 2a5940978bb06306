-- 0001: the tables shared by both flavours (plain PostgreSQL and TimescaleDB).
-- Applied in one transaction by `cryptomonitor migrate`.

-- Facts about this database the application checks at start-up (flavour, quote currency).
CREATE TABLE cryptomonitor_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per observation of a symbol. `time` is the source's own timestamp, so polling the
-- same unchanged answer twice cannot create a second row.
CREATE TABLE ticks (
    time        timestamptz      NOT NULL,
    symbol      text             NOT NULL,
    price       double precision NOT NULL,
    volume_24h  double precision,
    source      text             NOT NULL,
    received_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT ticks_pkey PRIMARY KEY (symbol, time),
    -- 'NaN' sorts above 'Infinity' in PostgreSQL, so "< 'Infinity'" also rejects NaN.
    CONSTRAINT ticks_price_valid CHECK (price > 0 AND price < 'Infinity'),
    CONSTRAINT ticks_volume_valid
        CHECK (volume_24h IS NULL OR (volume_24h >= 0 AND volume_24h < 'Infinity'))
);

COMMENT ON TABLE ticks IS 'One observation per symbol and source timestamp (UTC).';
COMMENT ON COLUMN ticks.time IS 'The source''s timestamp of the observation (CoinGecko last_updated_at).';
COMMENT ON COLUMN ticks.symbol IS 'Coin id as the source names it, e.g. bitcoin.';
COMMENT ON COLUMN ticks.price IS 'Price in the configured quote currency (cryptomonitor_meta.vs_currency).';
COMMENT ON COLUMN ticks.volume_24h IS 'Rolling 24-hour traded volume as the source reports it, not a per-tick volume.';
COMMENT ON COLUMN ticks.source IS 'Which source delivered the tick: coingecko, replay, ...';
COMMENT ON COLUMN ticks.received_at IS 'When CryptoMonitor stored the tick.';

-- Every alert and resolution ever raised. `written_at` is NULL until the line is in the
-- alerts file: the table is the outbox the file is written from, so no alert is lost or
-- written twice across crashes.
CREATE TABLE alerts (
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    alert_id       uuid             PRIMARY KEY,
    event          text             NOT NULL CHECK (event IN ('ALERT', 'RESOLVED')),
    time           timestamptz      NOT NULL,
    rule           text             NOT NULL,
    symbol         text             NOT NULL,
    metric         text             NOT NULL,
    value          double precision NOT NULL,
    window_avg     double precision NOT NULL,
    window_samples integer          NOT NULL,
    window_seconds double precision NOT NULL,
    condition      text             NOT NULL,
    threshold      double precision NOT NULL,
    episode_id     uuid             NOT NULL,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    written_at     timestamptz
);
CREATE UNIQUE INDEX alerts_seq_key ON alerts (seq);
CREATE INDEX alerts_unwritten_idx ON alerts (seq) WHERE written_at IS NULL;
CREATE INDEX alerts_time_idx ON alerts (time DESC);
CREATE INDEX alerts_symbol_time_idx ON alerts (symbol, time DESC);

COMMENT ON TABLE alerts IS 'Alert and resolution events, one per line of the alerts file.';
COMMENT ON COLUMN alerts.time IS 'Time of the tick that raised the event.';
COMMENT ON COLUMN alerts.episode_id IS 'alert_id of the ALERT that opened this episode (itself for the first).';

-- Where each (rule, symbol) stands: firing or not, since when, last line written.
CREATE TABLE alert_state (
    rule           text        NOT NULL,
    symbol         text        NOT NULL,
    firing         boolean     NOT NULL,
    episode_id     uuid,
    last_notified  timestamptz,
    last_evaluated timestamptz NOT NULL,
    PRIMARY KEY (rule, symbol)
);

-- THE definition of a trailing window, used by the alert rules: the ticks of `p_symbol` in
-- [p_end - p_seconds, p_end). The end is excluded, so a tick is compared with the ticks
-- before it, never with itself. Samples count the non-NULL values that were averaged.
CREATE FUNCTION trailing_window(p_symbol text, p_end timestamptz, p_seconds double precision)
RETURNS TABLE (
    price_avg      double precision,
    price_samples  bigint,
    volume_avg     double precision,
    volume_samples bigint
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT avg(price), count(price), avg(volume_24h), count(volume_24h)
    FROM ticks
    WHERE symbol = p_symbol
      AND time >= p_end - make_interval(secs => p_seconds)
      AND time < p_end
$$;

-- THE start of "the last 24 hours" (volatility_24h and the REST API): the 1,440 one-minute
-- buckets ending with the current one, i.e. ticks from this instant on.
CREATE FUNCTION last_24h_start() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT date_bin(INTERVAL '1 minute', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00')
           - INTERVAL '23 hours 59 minutes'
$$;
