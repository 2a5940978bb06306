"""The database: connections and what the driver's errors mean, named queries, migrations,
TimescaleDB policies, the leader lock."""
