"""The ``cryptomonitor`` command's parser: one module per command, each named in the docs."""

from __future__ import annotations

import re

import pytest

from cryptomonitor import cli, config


def test_one_module_per_command_in_the_order_of_the_settings() -> None:
    assert tuple(c.NAME for c in cli.COMMANDS) == config.COMMANDS
    for command in cli.COMMANDS:
        assert command.__name__ == f"cryptomonitor.commands.{command.NAME}"


def test_the_docstring_names_every_command() -> None:
    assert cli.__doc__ is not None
    first = cli.__doc__.split("\n\n")[0]  # the command, then its commands
    assert re.findall(r"``(\w+)``", first) == ["cryptomonitor", *config.COMMANDS]


@pytest.mark.parametrize("command", config.COMMANDS)
def test_each_command_takes_the_flags_of_its_settings(command: str) -> None:
    parser = cli.build_parser()
    args = parser.parse_args([command, *REQUIRED.get(command, [])])
    assert args.fields == config.fields_for(command) and args.command == command
    assert all(getattr(args, field) is None for field in args.fields)  # unset: the variables'


REQUIRED = {
    "replay": ["x.csv", "--symbol", "x"],
    "backfill": ["--from", "2025-06-01T00:00Z"],
    "db": ["status"],
    "rules": ["check"],
}


def test_times_are_iso_8601_and_utc_without_a_zone(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["backfill", "--from", "2025-06-01T00:00", "--to", "2025-06-02Z"])
    assert (args.start.isoformat(), args.end.isoformat()) == (
        "2025-06-01T00:00:00+00:00",
        "2025-06-02T00:00:00+00:00",
    )
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["backfill", "--from", "yesterday"])
    assert exited.value.code == 2
    assert "'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
