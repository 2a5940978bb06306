-- 0010: where each backfill stands, so that running the same `cryptomonitor backfill --from`
-- again resumes after the last request it stored, and only then (another backfill's ticks in
-- the same period say nothing about this one's progress). Keyed by where it started: `--to`
-- defaults to now, which moves between runs.

CREATE TABLE backfill_progress (
    symbol      text        NOT NULL,
    source      text        NOT NULL,
    period_from timestamptz NOT NULL,
    done_until  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, source, period_from)
);

COMMENT ON TABLE backfill_progress IS
    'Per backfill (symbol, history source, start): the end of the last request stored.';

GRANT INSERT, UPDATE ON backfill_progress TO cryptomonitor_writer;
GRANT SELECT ON backfill_progress TO cryptomonitor_reader, cryptomonitor_writer;
