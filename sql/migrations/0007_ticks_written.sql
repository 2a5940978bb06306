-- 0007: writers hear each other. Every change to `ticks` is announced on the channel
-- `cryptomonitor_ticks` when its transaction commits, so that a writer's alert-window cache
-- (cryptomonitor/evaluator.py) knows when rows it does not hold may exist, and checks them
-- against the database before trusting itself again.
--
-- A CryptoMonitor writer announces its own inserts, naming their symbols (payload
-- 'INSERT ["bitcoin", ...]'), and sets `cryptomonitor.announces = on` for its session. Every
-- other statement that changes ticks (psql, another program, a writer without alert rules)
-- is announced by this statement-level trigger with the operation alone ('INSERT', 'UPDATE',
-- 'DELETE', 'TRUNCATE'): it may concern any symbol. A statement-level trigger fires once per
-- statement whatever its row count; TimescaleDB supports them on hypertables.

CREATE FUNCTION cryptomonitor_ticks_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT'
       OR coalesce(current_setting('cryptomonitor.announces', true), '') <> 'on' THEN
        PERFORM pg_notify('cryptomonitor_ticks', TG_OP);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cryptomonitor_ticks_written() IS
    'Notifies cryptomonitor_ticks after each statement changing ticks, unless a CryptoMonitor '
    'writer announces its inserts itself (writers'' alert-window caches listen).';

CREATE TRIGGER ticks_written
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticks
    FOR EACH STATEMENT EXECUTE FUNCTION cryptomonitor_ticks_written();
