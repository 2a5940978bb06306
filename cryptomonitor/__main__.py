from __future__ import annotations

from cryptomonitor import cli

raise SystemExit(cli.main())
