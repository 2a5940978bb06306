"""Docker for the tests: whether an engine, Compose v2 and the test images are here, and why not.

scripts/test prepares them (tests/docker/engine, tests/docker/images); where that failed it
passes the reason in ``CMTEST_DOCKER_UNAVAILABLE``, and the Docker tests skip naming it.
``CMTEST_DOCKER=off`` turns them off.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

#: The oldest Compose that reads docker-compose.yml (env_file's long form with `required`).
#: The README states the same version.
MIN_COMPOSE = (2, 24, 0)
DEBIAN_IMAGE = os.environ.get("CMTEST_DEBIAN_IMAGE", "cryptomonitor-test/debian:bookworm")
PYTHON_IMAGE = os.environ.get("CMTEST_PYTHON_IMAGE", "cryptomonitor-test/python:3.11-bookworm")
POSTGRES_IMAGE = os.environ.get("CMTEST_POSTGRES_IMAGE", "cryptomonitor-test/postgres:15")


def run(
    *args: str,
    timeout: float = 300,
    check: bool = True,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def compose_version() -> tuple[int, ...] | None:
    try:
        out = run("docker", "compose", "version", "--short", timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", out.strip())
    return tuple(int(x) for x in found.groups()) if found else None


@functools.cache
def unavailable(*, compose: bool = False) -> str | None:
    """Why the Docker tests cannot run here, or None when they can."""
    if os.environ.get("CMTEST_DOCKER", "auto") == "off":
        return "CMTEST_DOCKER=off"
    if os.environ.get("CMTEST_DOCKER_UNAVAILABLE"):
        return os.environ["CMTEST_DOCKER_UNAVAILABLE"]
    if shutil.which("docker") is None:
        return "no docker command (scripts/test installs Docker where it can)"
    try:
        if run("docker", "info", timeout=20, check=False).returncode != 0:
            return "no Docker engine answers (scripts/test starts one where it can)"
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer"
    if compose:
        version = compose_version()
        if version is None:
            return "docker compose (v2) is not installed"
        if version < MIN_COMPOSE:
            return f"docker compose {version} is older than {MIN_COMPOSE}"
    for image in (PYTHON_IMAGE, POSTGRES_IMAGE):
        if run("docker", "image", "inspect", image, check=False).returncode != 0:
            return f"test image {image} is missing: run tests/docker/images"
    return None
