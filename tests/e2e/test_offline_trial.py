"""docs/alerts.md's offline receiver trial, its commands as written, against Debian's real
Alertmanager on 127.0.0.1: after the replay and `run`, Alertmanager lists an active alert."""

from __future__ import annotations

import pathlib
import re
import shlex
import time
from typing import Any

import pytest
import requests

from tests.support.daemons import binary, process
from tests.support.paths import ROOT
from tests.support.pgserver import free_port
from tests.support.procs import Proc, cli

pytestmark = pytest.mark.slow

DOC = ROOT / "docs" / "alerts.md"
DOC_ADDRESS = "127.0.0.1:9093"


def trial() -> tuple[str, list[list[str]], str]:
    """The receivers file, the cryptomonitor commands and the URL curl reads, from the doc."""
    text = DOC.read_text()
    block = re.search(r"<!-- offline-trial:.*?-->\n```sh\n(.*?)```", text, re.S)
    assert block, f"{DOC}: the offline trial block is gone"
    script = block.group(1)
    heredoc = re.search(r"cat > receivers.toml <<'EOF'\n(.*?)EOF\n", script, re.S)
    assert heredoc
    commands = [shlex.split(x)[1:] for x in script.splitlines() if x.startswith("cryptomonitor ")]
    (curl,) = [x.split()[-1] for x in script.splitlines() if x.startswith("curl ")]
    assert "export CRYPTOMONITOR_RECEIVERS_FILE=receivers.toml" in script
    return heredoc.group(1), commands, curl


def test_the_doc_trial_shows_an_active_alert_in_alertmanager(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alertmanager = binary("prometheus-alertmanager", "alertmanager")
    receivers, commands, curl = trial()
    assert [c[0] for c in commands] == ["replay", "run"]
    address = f"127.0.0.1:{free_port()}"  # the doc's 9093 may be taken here
    (tmp_path / "receivers.toml").write_text(receivers.replace(DOC_ADDRESS, address))
    (tmp_path / "am.yml").write_text("route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    environment = {
        "DATABASE_URL": db_url,
        "CRYPTOMONITOR_RECEIVERS_FILE": str(tmp_path / "receivers.toml"),
        "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt"),
        "CRYPTOMONITOR_COINGECKO_URL": f"http://127.0.0.1:{free_port()}",  # offline
    }
    # Paths in the doc are relative to the repository.
    replay = [str(ROOT / a) if (ROOT / a).exists() else a for a in commands[0]]
    url = curl.replace(DOC_ADDRESS, address)

    def alerts() -> list[dict[str, Any]]:
        return list(requests.get(url, timeout=5).json())

    with process(
        [
            alertmanager,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
        ],
        f"http://{address}/-/ready",
    ):
        result = cli(*replay, timeout=120, **environment)
        assert result.returncode == 0, result.stderr
        assert "(--shift-to-now)" in result.stderr
        run = Proc(*commands[1], **environment)
        try:
            deadline = time.monotonic() + 30
            while not alerts():
                assert time.monotonic() < deadline, run.log()
                time.sleep(0.2)
            time.sleep(1)  # every batch delivered
            shown = alerts()
        finally:
            assert run.stop() == 0, run.log()
    active = [a for a in shown if a["status"]["state"] == "active"]
    assert [(a["labels"]["alertname"], a["labels"]["symbol"]) for a in active] == [
        ("volume_2pct_5m", "eth")
    ]
