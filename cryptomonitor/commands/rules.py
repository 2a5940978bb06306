"""``cryptomonitor rules check [FILE]``: read a rules file as `run` would, and print each rule
as a sentence, or every problem with the file, the line, the rule and the key (exit 2).

No database is needed: a rules file can be checked before it is deployed, and `run` reloads
the same checks on start-up.
"""

from __future__ import annotations

import argparse
import pathlib

from cryptomonitor.alerting import rules as rulebook
from cryptomonitor.alerting import ruletext
from cryptomonitor.commands import arguments
from cryptomonitor.config import Settings

NAME = "rules"


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="check a rules file and print its rules as sentences",
        description="Check a rules file (default: CRYPTOMONITOR_RULES_FILE, or the built-in "
        "rules) and print each rule as a sentence; exit 2 naming the file, line and key of "
        "the first problem.",
    )
    parser.add_argument("action", choices=["check"], help="what to do (check)")
    parser.add_argument("file", nargs="?", type=pathlib.Path, help="the rules file (TOML)")
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    path = args.file or settings.rules_file
    every = rulebook.DEFAULT_RULES if path is None else rulebook.loads(_read(path), str(path))
    origin = "the built-in rules" if path is None else str(path)
    enabled = [r for r in every if r.enabled]
    print(f"{origin}: {len(enabled)} rule(s) enabled, {len(every) - len(enabled)} disabled")
    for rule in every:
        state = "" if rule.enabled else " (disabled)"
        print(f"  {rule.name}{state}: {ruletext.sentence(rule)}")
    return 0


def _read(path: pathlib.Path) -> str:
    from cryptomonitor.exceptions import ConfigError

    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc}") from exc
