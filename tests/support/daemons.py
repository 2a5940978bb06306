"""Debian's Prometheus and Alertmanager as real processes on 127.0.0.1: found (or the test
skipped, saying how to install them), started, waited for, stopped."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        f"{' or '.join(names)} not installed (Debian: apt-get install prometheus "
        "prometheus-alertmanager; scripts/test does it as root)"
    )


@contextlib.contextmanager
def process(args: list[str], ready: str, timeout: float = 30) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(ready, timeout=2).ok:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"{args[0]} did not come up"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
