"""``cryptomonitor`` as a real process: `cli` runs a command to its end, `Proc` keeps one running
and collects its JSON log lines with their arrival times. `env` is the environment they get:
nothing of the developer's CRYPTOMONITOR_*, PG* or CMTEST_* settings leaks in."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

#: Each process gets a spool directory of its own under this one (removed at exit), unless
#: the test names one (to see a restarted fetcher find what the killed one left).
_SPOOLS = pathlib.Path(tempfile.mkdtemp(prefix="cmtest-spools-"))
atexit.register(shutil.rmtree, _SPOOLS, True)


def env(**extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRYPTOMONITOR_", "PG", "CMTEST_")) and k != "DATABASE_URL"
    }
    # The fake API has no plan to protect: polls as fast as the tests ask.
    return {
        **base,
        "CRYPTOMONITOR_LOG_FORMAT": "json",
        "CRYPTOMONITOR_COINGECKO_RATE": "1e6",
        "CRYPTOMONITOR_SPOOL_DIR": tempfile.mkdtemp(dir=_SPOOLS),
        "CRYPTOMONITOR_METRICS_ADDR": "off",
        **extra,
    }


def cli(
    *args: str,
    timeout: float = 60,
    user: str | None = None,
    python: str = sys.executable,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """`user` (as root): run it as that user, with `python` (tests/support/users.py)."""
    return subprocess.run(
        [python, "-m", "cryptomonitor", *args],
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=user,
    )


class Proc:
    def __init__(
        self, *args: str, user: str | None = None, python: str = sys.executable, **environment: str
    ) -> None:
        self.popen = subprocess.Popen(
            [python, "-m", "cryptomonitor", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env(**environment),
            user=user,
        )
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.raw.append(line)
            with contextlib.suppress(ValueError):  # a traceback line, not a log event
                self.events.append((time.monotonic(), json.loads(line)))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for _, e in list(self.events) if e.get("event") == name]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; log so far:\n{''.join(self.raw)[-4000:]}")
            if self.popen.poll() is not None:
                self._reader.join(5)
                if predicate():
                    return
                raise AssertionError(
                    f"process exited {self.popen.returncode}:\n{''.join(self.raw)[-4000:]}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout)
        finally:
            self.popen.kill()
            self._reader.join(5)
            if self.popen.stderr is not None:
                self.popen.stderr.close()
        return self.popen.returncode

    def log(self) -> str:
        return "".join(self.raw)
