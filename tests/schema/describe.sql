-- The schema of a CryptoMonitor database as text, one line per object, for
-- tests/integration/test_schema.py: schema public, without what extensions put there, in a stable order.
-- Views by their columns only: how PostgreSQL prints a definition changes between versions
-- (the candle tests check what the views answer).
SELECT line FROM (
    SELECT 1 AS kind, format('table %s (%s)', c.relname, c.relkind) AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
    UNION ALL
    SELECT 2, format('column %s.%s %s%s%s', table_name, column_name, data_type,
                     CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END,
                     coalesce(' default ' || column_default, ''))
    FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL
    SELECT 3, format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
      AND contype <> 'n'  -- PostgreSQL 18 lists NOT NULL here too: the columns say it
    UNION ALL
    SELECT 4, 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 6, format('function %s(%s) returns %s, body md5 %s', p.proname,
                     pg_get_function_identity_arguments(p.oid),
                     pg_get_function_result(p.oid), md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT FROM pg_depend d  -- an extension's own (TimescaleDB's API)
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                        AND d.deptype = 'e')
    UNION ALL
    SELECT 7, 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 8, format('grant %s on %s to %s', privilege_type, table_name, grantee)
    FROM information_schema.role_table_grants
    WHERE table_schema = 'public' AND grantee LIKE 'cryptomonitor\_%'
    UNION ALL
    SELECT 9, format('column grant %s (%s) on %s to %s', privilege_type, column_name,
                     table_name, grantee)
    FROM information_schema.column_privileges
    WHERE table_schema = 'public' AND grantee LIKE 'cryptomonitor\_%'
      AND (grantee, table_name, privilege_type) NOT IN (
          SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
          WHERE table_schema = 'public')
) objects
ORDER BY kind, line;
