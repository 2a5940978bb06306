-- 0013: the rule language (issue 25). Rules now include levels and moves, which have no
-- trailing window, and modifiers whose state must survive a restart like the rest of it.
--
-- alerts: window_avg, window_samples and window_seconds are NULL for a condition without a
-- trailing window (above, below, move); `severity` is the rule's (info, warning, critical),
-- carried to every receiver; `figures` holds the condition's exact figures by name (a move's
-- reference and lookback_seconds, a z-score's zscore and stddev, the recover level, ...:
-- docs/alerts.md lists them). Existing rows keep their meaning: severity 'warning', figures {}.
ALTER TABLE alerts
    ALTER COLUMN window_avg DROP NOT NULL,
    ALTER COLUMN window_samples DROP NOT NULL,
    ALTER COLUMN window_seconds DROP NOT NULL,
    ADD COLUMN severity text NOT NULL DEFAULT 'warning'
        CHECK (severity IN ('info', 'warning', 'critical')),
    ADD COLUMN figures jsonb NOT NULL DEFAULT '{}';

COMMENT ON COLUMN alerts.window_avg IS
    'Average (z-score: mean) of the trailing window the value was judged against; NULL for a '
    'condition without a window (above, below, move).';
COMMENT ON COLUMN alerts.figures IS
    'The condition''s own figures by name (reference, lookback_seconds, change_pct, zscore, '
    'stddev, ratio, direction, unit, recover): docs/alerts.md.';

-- alert_state: a `for` period running (pending_since), the last RESOLVED (for `cooldown`),
-- and a `once` rule that has had its episode (done).
ALTER TABLE alert_state
    ADD COLUMN pending_since timestamptz,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN done boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN alert_state.pending_since IS
    'Not firing: the time from which the condition has held on every deciding tick (for).';
COMMENT ON COLUMN alert_state.resolved_at IS 'Time of the last RESOLVED (for the cooldown).';
COMMENT ON COLUMN alert_state.done IS 'A once rule whose one episode has ended for the symbol.';
