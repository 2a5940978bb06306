"""Running ``cryptomonitor`` as a normal user, for the embedded server's tests (initdb refuses
root, and so does the embedded server; the suite often runs as root).

As root: the commands run as ``nobody`` with a HOME of their own. The test's interpreter may
sit where nobody cannot reach it (pyenv under /root, mode 0700): then the same version's system
interpreter runs them, on this environment's packages (``PYTHONPATH``: cryptomonitor's parent
and the site-packages, whose compiled parts are of the same CPython version). As another user:
that user, with its interpreter, and a fresh HOME all the same.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import pwd
import shutil
import site
import subprocess
import sys
from typing import Any

import cryptomonitor

UNPRIVILEGED = "nobody"


@dataclasses.dataclass(frozen=True)
class User:
    """Who runs the commands: `run_as` (None: this process's user), with `python`, and the
    environment they get (HOME and the data directory under it, PYTHONPATH if needed)."""

    run_as: str | None
    python: str
    home: pathlib.Path
    environment: dict[str, str]

    @property
    def data_dir(self) -> pathlib.Path:
        """The embedded server's default directory for this HOME."""
        return self.home / ".local" / "share" / "cryptomonitor"

    def args(self, **extra: str) -> dict[str, Any]:
        """Keyword arguments for `procs.cli` and `procs.Proc`."""
        return {"user": self.run_as, "python": self.python, **self.environment, **extra}


def _imports(python: str, user: str | None, env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import cryptomonitor, psycopg, fastapi"],
            capture_output=True,
            env={**os.environ, **env},
            user=user,
            timeout=60,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def normal_user(base: pathlib.Path) -> User | str:
    """A `User` with a fresh HOME under `base`, or why there can be none here."""
    home = base / "home"
    home.mkdir()
    environment = {"HOME": str(home), "XDG_DATA_HOME": ""}
    if os.geteuid() != 0:
        return User(None, sys.executable, home, environment)
    entry = pwd.getpwnam(UNPRIVILEGED)
    for path in (base, home):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    if _imports(sys.executable, UNPRIVILEGED, {}):
        return User(UNPRIVILEGED, sys.executable, home, environment)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    paths = [str(pathlib.Path(cryptomonitor.__file__).parent.parent), *site.getsitepackages()]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    if system and _imports(system, UNPRIVILEGED, {"PYTHONPATH": environment["PYTHONPATH"]}):
        return User(UNPRIVILEGED, system, home, environment)
    return (
        f"as root, the commands must run as {UNPRIVILEGED}, who can run neither "
        f"{sys.executable} nor a system {version} with this environment's packages"
    )
