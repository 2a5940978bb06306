-- 0009: receivers besides the alerts file (webhook, Alertmanager, email, chat), each fed from
-- the alerts outbox at least once (cryptomonitor/delivery.py).
--
-- `receivers` remembers each configured receiver and the outbox position it starts after (a
-- receiver added today does not get last year's alerts); delivery moves that position past
-- the events it has settled, so its queries stay short however long `alerts` grows. `alert_deliveries` holds, per receiver
-- and event, where delivery stands: delivered, or failed so far with the next attempt's time.

CREATE TABLE receivers (
    name        text        PRIMARY KEY,
    kind        text        NOT NULL,
    since_seq   bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE receivers IS
    'Receivers of alert events (besides the file), and the alerts.seq up to which every event '
    'is settled (delivered or skipped; at first: the newest when the receiver was added).';

CREATE TABLE alert_deliveries (
    receiver         text        NOT NULL REFERENCES receivers (name) ON DELETE CASCADE,
    alert_id         uuid        NOT NULL,  -- no foreign key: TRUNCATE alerts stays possible
    status           text        NOT NULL CHECK (status IN ('delivered', 'failing', 'skipped')),
    attempts         integer     NOT NULL DEFAULT 0,
    first_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz,
    last_error       text,
    PRIMARY KEY (receiver, alert_id)
);

COMMENT ON TABLE alert_deliveries IS
    'Per receiver and alert event: delivered, skipped by its route, or failing (retried at '
    'next_attempt_at). Events of a receiver with no row here are not yet tried.';

CREATE INDEX alert_deliveries_failing_idx ON alert_deliveries (receiver, next_attempt_at)
    WHERE status = 'failing';

GRANT INSERT, UPDATE ON receivers, alert_deliveries TO cryptomonitor_writer;
GRANT SELECT ON receivers, alert_deliveries TO cryptomonitor_reader, cryptomonitor_writer;
