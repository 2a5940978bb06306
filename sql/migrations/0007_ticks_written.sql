-- 0007: every statement that changes `ticks` sends one notification on the channel
-- `cryptomonitor_ticks` when its transaction commits (PostgreSQL folds repeats within a
-- transaction into one). A writer's alert-window cache (cryptomonitor/evaluator.py) LISTENs on
-- it: a notification from any other session tells it that rows it does not know may exist,
-- and it checks them against the database before trusting its cache again. Without another
-- writer it hears only its own notifications and checks nothing: the check costs nothing in
-- the common case.
-- A statement-level trigger fires once per INSERT/COPY/UPDATE/DELETE/TRUNCATE, whatever the
-- row count; TimescaleDB supports them on hypertables (it does not copy them to chunks).

CREATE FUNCTION cryptomonitor_ticks_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cryptomonitor_ticks', TG_OP);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cryptomonitor_ticks_written() IS
    'Notifies cryptomonitor_ticks after each statement changing ticks (writers'' cache check).';

CREATE TRIGGER ticks_written
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticks
    FOR EACH STATEMENT EXECUTE FUNCTION cryptomonitor_ticks_written();
