"""The Dockerfile and docker-compose.yml, checked as far as possible without a Docker engine."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from cryptomonitor import config
from tests.support.paths import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_base_image_is_pinned_and_can_be_replaced() -> None:
    """Users get the pinned official image; where no registry is reachable, a local one."""
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert default and re.search(r":\d+\.\d+\.\d+-", default.group(1)), default
    assert [i.split()[0] for i in _instructions("FROM")] == ["${PYTHON_IMAGE}"] * 2
    assert COMPOSE["x-app"]["build"]["args"]["PYTHON_IMAGE"] == (
        "${PYTHON_IMAGE:-" + default.group(1) + "}"
    )


def test_runs_as_non_root_with_exec_form_entrypoint() -> None:
    users = _instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert _instructions("ENTRYPOINT")[-1].startswith("[")  # exec form: SIGTERM reaches Python
    assert _instructions("CMD")[-1] == '["run"]'


def test_no_secret_in_the_image() -> None:
    env_lines = " ".join(_instructions("ENV") + _instructions("ARG"))
    for secret in ("PASSWORD", "API_KEY", "DATABASE_URL"):
        assert secret not in env_lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored


def test_image_installs_pinned_requirements_that_match_pyproject() -> None:
    def normal(name: str) -> str:  # PEP 503: prometheus_client is prometheus-client
        return re.sub(r"[-_.]+", "-", name).lower()

    lock = {
        normal(line.split("==")[0])
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert normal(re.split(r"[\[<>=]", dep)[0]) in lock
    assert all(
        "==" in line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_compose_database_is_pinned_timescaledb_pg17_with_healthcheck() -> None:
    db = COMPOSE["services"]["db"]
    assert re.fullmatch(r"\$\{DB_IMAGE:-timescale/timescaledb:\d+\.\d+\.\d+-pg17\}", db["image"])
    check = db["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL" and "pg_isready" in check[1]
    assert any(v.startswith("pgdata:") for v in db["volumes"])
    assert "pgdata" in COMPOSE["volumes"]
    assert all(p.startswith("127.0.0.1:") for p in db.get("ports", []))


def _environment(service: str) -> dict[str, str]:
    """A service's environment with the YAML merge keys (<<: *no-secrets) resolved."""
    return {str(k): str(v) for k, v in COMPOSE["services"][service]["environment"].items()}


def test_compose_migrates_as_owner_before_app_and_api_start() -> None:
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["command"] == ["migrate", "--check-alerts-file"]
    assert migrate["restart"] == "no"  # a failure stops `up` with its reason, never a loop
    assert migrate["user"] == COMPOSE["services"]["app"]["user"]  # checks ./alerts as the app
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert _environment("migrate")["PGPASSWORD"] == "${POSTGRES_PASSWORD}"
    for name in ("app", "api"):
        assert COMPOSE["services"][name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_app_mounts_alerts_and_stops_cleanly() -> None:
    app = COMPOSE["services"]["app"]
    env = _environment("app")
    assert "./alerts:/app/alerts" in app["volumes"]
    assert env["CRYPTOMONITOR_ALERTS_FILE"].startswith("/app/alerts/")
    assert app["stop_signal"] == "SIGTERM" and app["stop_grace_period"]
    assert app["env_file"][0]["path"] == ".env"
    assert env["DATABASE_URL"].startswith("postgresql://cryptomonitor_app@db:5432/")


@pytest.mark.parametrize(
    ("service", "role", "password"),
    [
        ("migrate", "${POSTGRES_USER:-cryptomonitor}", "POSTGRES_PASSWORD"),
        ("app", "cryptomonitor_app", "APP_DB_PASSWORD"),
        ("api", "cryptomonitor_api", "API_DB_PASSWORD"),
    ],
)
def test_each_service_gets_only_its_own_role_and_password(
    service: str, role: str, password: str
) -> None:
    env = _environment(service)
    assert env["DATABASE_URL"].startswith(f"postgresql://{role}@db:5432/")  # no password in it
    assert env["PGPASSWORD"] == "${" + password + "}"
    # .env reaches every container through env_file: the other roles' passwords are blanked.
    for name in ("POSTGRES_PASSWORD", "APP_DB_PASSWORD", "API_DB_PASSWORD", "ANALYST_DB_PASSWORD"):
        assert env[name] == "", (service, name)


def test_compose_database_makes_the_login_roles_of_the_init_script() -> None:
    db = COMPOSE["services"]["db"]
    assert "./docker/db-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    script = (ROOT / "docker" / "db-init" / "10-cryptomonitor-roles.sh").read_text()
    for role in ("cryptomonitor_app", "cryptomonitor_api", "analyst"):
        assert f"('{role}')" in script
    for password in ("APP_DB_PASSWORD", "API_DB_PASSWORD", "ANALYST_DB_PASSWORD"):
        assert db["environment"][password].startswith("${" + password + ":?")


def test_compose_api_service_has_a_healthcheck_on_health() -> None:
    service = COMPOSE["services"]["api"]
    assert service["command"] == ["api"]
    # Liveness, not data freshness: `up --wait` must not fail because CoinGecko is unreachable.
    assert "/health/live" in " ".join(service["healthcheck"]["test"])
    assert all(p.startswith("127.0.0.1:") for p in service["ports"])
    assert _environment("api")["CRYPTOMONITOR_API_PORT"] == "8000"


def test_compose_passes_only_known_settings_to_the_app() -> None:
    """The app refuses unknown CRYPTOMONITOR_* variables: compose and .env.example must agree."""
    known = {o.env for o in config.OPTIONS}
    names = set(_environment("app")) | set(_environment("api")) | set(_environment("migrate"))
    example = re.findall(
        r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE
    )
    for name in names | set(example):
        if name.startswith(config.PREFIX):
            assert name in known, name


def test_env_example_loads_as_valid_settings() -> None:
    env = dict(
        re.findall(
            r"^([A-Z][A-Z0-9_]+)=(.*)$", (ROOT / ".env.example").read_text(), flags=re.MULTILINE
        )
    )
    settings = config.load(env)
    assert settings.coins == ("bitcoin", "ethereum", "zcash")


def test_compose_config_validates_when_docker_compose_exists() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        pytest.skip("docker compose is not installed here: compose file checked statically only")
    result = subprocess.run(
        [docker, "compose", "config", "--quiet"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env={
            "POSTGRES_PASSWORD": "x",
            "APP_DB_PASSWORD": "x",
            "API_DB_PASSWORD": "x",
            "ANALYST_DB_PASSWORD": "x",
            "PATH": "/usr/bin:/bin",
            "HOME": str(pathlib.Path.home()),
        },
    )
    assert result.returncode == 0, result.stderr


def test_the_minimum_compose_version_is_stated_where_it_is_checked() -> None:
    """tests/support/dockerenv.py refuses an older Compose; the README and docs/docker.md say which."""
    from tests.support import dockerenv

    version = "v{}.{} or later".format(*dockerenv.MIN_COMPOSE[:2])
    assert f"Compose {version}" in " ".join((ROOT / "README.md").read_text().split())
    assert f"Compose **{version}**" in (ROOT / "docs" / "docker.md").read_text()


def test_observability_profile_is_optional_pinned_and_scrapes_the_app() -> None:
    services = COMPOSE["services"]
    for name in ("prometheus", "alertmanager"):
        assert services[name]["profiles"] == ["observability"]  # not started by plain `up`
        assert re.fullmatch(r"\$\{[A-Z_]+:-prom/\w+:v\d+\.\d+\.\d+\}", services[name]["image"])
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"])
    assert services["app"]["environment"]["CRYPTOMONITOR_METRICS_ADDR"] == "0.0.0.0:9108"
    scrape = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {"app:9108", "api:8000"}


def test_the_package_under_test_is_the_one_this_run_says() -> None:
    """scripts/test's second run imports an installed wheel (CMTEST_FROM_WHEEL=1), the first
    the checkout: each reads the SQL, the demo data and the static files the one way the code
    has (importlib.resources), so both the wheel's files and the checkout's are tested."""
    import importlib.resources

    import cryptomonitor
    from cryptomonitor.db import migrations, queries

    package = pathlib.Path(cryptomonitor.__file__).resolve().parent
    sql = pathlib.Path(str(queries.sql_root()))
    if os.environ.get("CMTEST_FROM_WHEEL") == "1":
        assert "site-packages" in package.parts, package
        assert package != ROOT / "cryptomonitor", f"the checkout was imported: {package}"
        assert sql.is_dir() and not sql.is_symlink()  # real files in the wheel
    else:
        assert package == ROOT / "cryptomonitor"
        assert sql.resolve() == ROOT / "sql"  # the checkout's symlink to the top-level sql/
    assert queries.get("ticks_between")
    assert migrations.available("postgres") and migrations.available("timescaledb")
    files = importlib.resources.files("cryptomonitor")
    assert (files / "api" / "static" / "dashboard" / "index.html").is_file()
    assert any(f.name.endswith(".csv.gz") for f in (files / "sources" / "demodata").iterdir())
