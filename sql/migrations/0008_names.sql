-- 0008: names that say what they hold.
--
-- alert_state.last_evaluated was written only when an alert opened, repeated or resolved:
-- it is the time of the tick that last changed the state, now `last_changed`.
--
-- One mechanism, one name: writers hear each other's changes to `ticks` (0007) on the
-- channel `cryptomonitor_ticks_changed`, notified by the function and trigger of that name,
-- unless the session announces its own inserts (`cryptomonitor.ticks_changed_announced`).
-- Upgrade with every writer stopped (docs/operations.md): a writer of an older version
-- listens on the old channel.

ALTER TABLE alert_state RENAME COLUMN last_evaluated TO last_changed;

COMMENT ON COLUMN alert_state.last_changed IS
    'The time of the tick that last opened, repeated or resolved this alert.';

DROP TRIGGER ticks_written ON ticks;
DROP FUNCTION cryptomonitor_ticks_written();

CREATE FUNCTION cryptomonitor_ticks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT'
       OR coalesce(current_setting('cryptomonitor.ticks_changed_announced', true), '') <> 'on'
    THEN
        PERFORM pg_notify('cryptomonitor_ticks_changed', TG_OP);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cryptomonitor_ticks_changed() IS
    'Notifies cryptomonitor_ticks_changed after each statement changing ticks, unless a '
    'CryptoMonitor writer announces its inserts itself (writers'' alert caches listen).';

CREATE TRIGGER cryptomonitor_ticks_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticks
    FOR EACH STATEMENT EXECUTE FUNCTION cryptomonitor_ticks_changed();
