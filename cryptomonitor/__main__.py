from __future__ import annotations

from cryptomonitor import cli, failpoints

failpoints.install()  # the crash-safety tests' CMTEST_FAILPOINT; nothing without it
raise SystemExit(cli.main())
