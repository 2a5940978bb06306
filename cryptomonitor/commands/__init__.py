"""One module per CLI command (run, backfill, replay, demo, migrate, api) and their shared
start-up (`startup`)."""
