"""The API keeps its contract: schemathesis fuzzes a live `cryptomonitor api` on the demo's
data from /openapi.json, bounded, and no request the schema allows is refused or fails."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest
import requests

from tests.support import pgserver
from tests.support.procs import Proc, cli

#: Examples per operation and in all: enough to reach every parameter's edges (the fuzzer of
#: issue 24 found the years before 2009 and control characters in ~50), within a minute.
EXAMPLES = 40
#: Every check schemathesis has: no 500, each status, header and body as declared, methods
#: not allowed refused, and positive data acceptance: a schema-valid request is answered
#: (2xx, or 404 for an unknown symbol), never refused with a 422.
CHECKS = "all"


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(pathlib.Path(sys.executable).parent))
    if found is None:
        pytest.skip("schemathesis is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.slow
def test_no_request_the_schema_allows_is_refused(db_url: str, tmp_path: pathlib.Path) -> None:
    tool = _schemathesis()
    demo = cli(
        "demo",
        "--hours",
        "2",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "a.txt"),
    )
    assert demo.returncode == 0, demo.stderr
    port = pgserver.free_port()
    api = Proc("api", "--api-host", "127.0.0.1", "--api-port", str(port), DATABASE_URL=db_url)
    try:
        api.wait_for(lambda: bool(api.named("api_serving")))
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/rank/demo-btc", timeout=10).status_code == 200
        run = subprocess.run(
            [
                tool,
                "run",
                f"{base}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "24",
                "--generation-deterministic",
                "--workers",
                "1",
                "--no-color",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    finally:
        api.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
