"""The settings' reference, written from `options.OPTIONS`: the settings part of
``.env.example`` and the table of docs/configuration.md. Each file keeps its hand-written
parts; the part between its two marker lines is this module's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from cryptomonitor.config.options import COMMANDS, OPTIONS, Option

ENV_START = "# >>> settings (written from cryptomonitor/config/options.py: edit it, not these)"
ENV_END = "# <<< settings"
DOCS_START = "<!-- settings: written from cryptomonitor/config/options.py, edit it -->"
DOCS_END = "<!-- /settings -->"
_RULE_WIDTH = 94


def env_example(options: Iterable[Option] = OPTIONS) -> str:
    """The settings of ``.env.example``: a section per group, each option's note as comments
    above its variable set to its default (an option whose note shows its own commented
    example, like DATABASE_URL, is left unset)."""
    out: list[str] = []
    for group, members in itertools.groupby(options, key=lambda o: o.group):
        if out:
            out.append("")
        out.append(f"# --- {group} ".ljust(_RULE_WIDTH, "-"))
        for option in members:
            note = option.help if option.note is None else option.note
            for line in note.splitlines():
                out.append(line if line.startswith("# ") else f"# {line}".rstrip())
            if f"# {option.env}=" not in note:
                out.append(f"{option.env}={option.default}")
    return "\n".join(out) + "\n"


def markdown_table(options: Iterable[Option] = OPTIONS) -> str:
    """The table of docs/configuration.md: variable, flag and its commands, default, meaning."""
    rows = ["| variable | flag (of) | default | meaning |", "| --- | --- | --- | --- |"]
    for option in options:
        if option.shown_default is not None:
            default = option.shown_default
        else:
            default = f"`{option.default}`" if option.default else "unset"
        meaning = option.help if option.doc is None else option.doc
        if option.commands == set(COMMANDS):
            of = "every command"
        else:
            of = ", ".join(c for c in COMMANDS if c in option.commands)
        rows.append(f"| `{option.env}` | `{option.flag}` ({of}) | {default} | {meaning} |")
    return "\n".join(rows) + "\n"


def between(text: str, start: str, end: str, body: str) -> str:
    """`text` with what lies between its `start` and `end` lines replaced by `body`;
    ValueError when a marker is missing."""
    try:
        head, rest = text.split(start + "\n", 1)
        _, tail = rest.split(end + "\n", 1)
    except ValueError:
        raise ValueError(f"the marker lines {start!r} and {end!r} are missing") from None
    return f"{head}{start}\n{body}{end}\n{tail}"
