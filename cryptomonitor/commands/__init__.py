"""One module per CLI command (migrate, run, replay, backfill, demo, api, db), each with its
sub-command's arguments and its handler (``NAME``, ``add_parser``, ``main``: see
`cryptomonitor.cli.Command`); their shared start-up (`startup`) and argument types
(`arguments`)."""
