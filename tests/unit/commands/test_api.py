"""``cryptomonitor api``: its help names every path the application serves."""

from __future__ import annotations

import pytest

from cryptomonitor import cli
from cryptomonitor.api import application
from cryptomonitor.commands import api


def served_paths() -> set[str]:
    """The application's paths: its API routes (the OpenAPI schema's), the pages outside the
    schema, and the mounts."""
    app = application.create_app("postgresql://nobody@127.0.0.1:1/none")  # no connection yet
    paths = set(app.openapi()["paths"])

    def walk(routes: list[object]) -> None:
        for route in routes:
            if isinstance(path := getattr(route, "path", None), str):
                paths.add(path)
            # Included routers: FastAPI keeps the router itself (`original_router`) or its routes.
            inner = getattr(route, "original_router", None) or route
            if inner is not route or hasattr(route, "routes"):
                walk(list(getattr(inner, "routes", [])))

    walk(list(app.routes))
    return paths


def test_the_help_names_every_path_the_api_serves(capsys: pytest.CaptureFixture[str]) -> None:
    paths = served_paths()
    assert {"/metrics", "/rank", "/gaps", "/prometheus", "/docs", "/"} <= paths  # found them
    with pytest.raises(SystemExit) as exited:
        cli.main(["api", "--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
    named = {word.strip(",.;:()") for word in help_text.split() if word.startswith(("/", "(/"))}
    assert named == paths
    assert " ".join(api.DESCRIPTION.split()) in help_text
