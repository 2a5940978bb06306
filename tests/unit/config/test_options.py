"""Every setting declared once (cryptomonitor/config/options.py): each belongs to a command and
is its flag, and .env.example and docs/configuration.md say what the declarations say.

`CMTEST_UPDATE_DOCS=1` rewrites the two files' generated parts from the declarations (review
the diff)."""

from __future__ import annotations

import argparse
import os

import pytest

from cryptomonitor import cli, config
from cryptomonitor.config import reference
from tests.support.paths import ROOT

FILES = {
    ROOT / ".env.example": (reference.ENV_START, reference.ENV_END, reference.env_example),
    ROOT / "docs" / "configuration.md": (
        reference.DOCS_START,
        reference.DOCS_END,
        reference.markdown_table,
    ),
}


def _flags_of_each_command() -> dict[str, set[str]]:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {s for a in sub._actions for s in a.option_strings}
        for name, sub in commands.choices.items()
    }


def test_every_option_belongs_to_a_command_and_is_its_flag() -> None:
    flags = _flags_of_each_command()
    assert set(flags) == set(config.COMMANDS)
    for option in config.OPTIONS:
        assert option.commands, f"{option.env} belongs to no command: it would have no flag"
        assert option.commands <= set(config.COMMANDS), option.env
        for command in config.COMMANDS:
            assert (option.flag in flags[command]) == (command in option.commands), (
                option.flag,
                command,
            )


def test_each_command_takes_the_settings_declared_for_it() -> None:
    for command, flags in _flags_of_each_command().items():
        declared = {config.OPTIONS_BY_FIELD[f].flag for f in config.fields_for(command)}
        settings_flags = {f for f in flags if f in {o.flag for o in config.OPTIONS}}
        assert settings_flags == declared, command
    with pytest.raises(ValueError, match="unknown command 'serve'"):
        config.fields_for("serve")


def test_backfill_offers_no_alert_settings() -> None:
    """backfill raises no alert: no flag for the alerts file, the rules or the receivers."""
    flags = _flags_of_each_command()["backfill"]
    assert {"--alerts-file", "--rules-file", "--receivers-file"}.isdisjoint(flags)


@pytest.mark.parametrize("path", list(FILES), ids=lambda p: p.name)
def test_the_reference_files_say_what_the_options_say(path: os.PathLike[str]) -> None:
    start, end, render = FILES[path]  # type: ignore[index]
    text = ROOT.joinpath(path).read_text(encoding="utf-8")
    expected = reference.between(text, start, end, render())
    if os.environ.get("CMTEST_UPDATE_DOCS") == "1":
        ROOT.joinpath(path).write_text(expected, encoding="utf-8")
        return
    assert text == expected, f"{path} differs from config/options.py: CMTEST_UPDATE_DOCS=1"


def test_the_env_example_and_the_table_name_every_option_once() -> None:
    env = reference.env_example()
    table = reference.markdown_table()
    for option in config.OPTIONS:
        assert env.count(f"{option.env}=") == 1, option.env
        assert table.count(f"| `{option.env}` |") == 1, option.env
    secret = config.OPTIONS_BY_FIELD["coingecko_api_key"]
    assert f"{secret.env}=\n" in env  # a secret's default is empty, never a value


def test_a_file_without_its_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="marker lines"):
        reference.between("no markers here\n", reference.ENV_START, reference.ENV_END, "x\n")
