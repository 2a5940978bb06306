"""Log lines: JSON, with tracebacks as text whichever library logged them."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging, structlog
from cryptomonitor import logs
logs.configure("info", "json")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
try:
    raise KeyError("x")
except KeyError:
    structlog.get_logger("t").exception("failed")
"""


def test_tracebacks_are_logged_as_text() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stderr
    library, ours = (json.loads(line) for line in out.strip().splitlines())
    assert library["event"] == "Exception in ASGI application"
    assert "Traceback (most recent call last)" in library["exception"]
    assert "ValueError: boom" in library["exception"]
    assert "KeyError: 'x'" in ours["exception"]
    assert "traceback object" not in out
