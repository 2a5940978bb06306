from __future__ import annotations


def test_template_has_tables(conn) -> None:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1").fetchall()
    assert {"ticks", "alerts", "alert_state", "cryptomonitor_meta", "schema_migrations"} <= {r[0] for r in rows}
