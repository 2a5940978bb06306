"""The embedded server's pieces that need no server (`db.embedded`): when it is used, where it
lives, its URL, and the locks by which the last process out stops it (real flocks: flock locks
belong to an open file, so two `Users` in one process exclude each other like two processes)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from cryptomonitor.db import embedded


def test_used_only_when_nothing_names_a_server() -> None:
    assert embedded.wanted(None, {})
    assert embedded.wanted(None, {"PGUSER": "me", "PGPASSWORD": "x", "PGHOST": ""})
    assert not embedded.wanted("postgresql:///x", {})
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE"):
        assert not embedded.wanted(None, {name: "x"}), name


def test_the_default_directory_follows_xdg() -> None:
    home = {"HOME": "/home/ann"}
    assert embedded.default_data_dir(home) == pathlib.Path("/home/ann/.local/share/cryptomonitor")
    xdg = {**home, "XDG_DATA_HOME": "/data"}
    assert embedded.default_data_dir(xdg) == pathlib.Path("/data/cryptomonitor")
    relative = {**home, "XDG_DATA_HOME": "data"}  # the spec: ignored
    assert embedded.default_data_dir(relative) == embedded.default_data_dir(home)


def test_the_url_is_the_socket_of_its_directory_for_libpq() -> None:
    layout = embedded.Layout(pathlib.Path("/home/ann/my data/cryptomonitor"))
    params = psycopg.conninfo.conninfo_to_dict(layout.url())
    assert params == {
        "host": "/home/ann/my data/cryptomonitor/run",
        "port": "5432",
        "user": "cryptomonitor",
        "dbname": "cryptomonitor",
    }


def test_the_last_user_out_is_told_so(tmp_path: pathlib.Path) -> None:
    first, second = embedded.Users(tmp_path), embedded.Users(tmp_path)
    with first.control():
        first.join()
    with second.control():
        second.join()
    assert first.in_use()
    with first.control():
        assert first.leave() is False  # the second still uses it
    with second.control():
        assert second.leave() is True
    assert not second.in_use()


def test_control_excludes_and_is_waited_for(tmp_path: pathlib.Path) -> None:
    with _child(
        tmp_path,
        """
        import time
        with users.control():
            print("holding", flush=True)
            time.sleep(0.5)
        """,
    ) as other:
        assert other.stdout is not None and other.stdout.readline() == "holding\n"
        started = time.monotonic()
        with embedded.Users(tmp_path).control():
            waited = time.monotonic() - started
    assert 0.2 < waited < 10


def test_a_killed_users_lock_goes_with_it(tmp_path: pathlib.Path) -> None:
    ours = embedded.Users(tmp_path)
    with _child(
        tmp_path,
        """
        import time
        with users.control():
            users.join()
        print("joined", flush=True)
        time.sleep(60)
        """,
    ) as crashed:
        assert crashed.stdout is not None and crashed.stdout.readline() == "joined\n"
        assert ours.in_use()
        crashed.kill()
    assert not ours.in_use()


@pytest.mark.parametrize(
    ("value", "literal"),
    [("/a/b", "'/a/b'"), ("/it's", "'/it''s'"), ("/back\\slash", "'/back\\\\slash'")],
)
def test_conf_strings_are_quoted(value: str, literal: str) -> None:
    assert embedded._quote(value) == literal


def _child(run: pathlib.Path, body: str) -> subprocess.Popen[str]:
    code = (
        "import pathlib\nfrom cryptomonitor.db import embedded\n"
        f"users = embedded.Users(pathlib.Path({str(run)!r}))\n" + textwrap.dedent(body)
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
