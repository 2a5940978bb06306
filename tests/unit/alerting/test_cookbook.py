"""docs/alerts.md's cookbook is true: each recipe's TOML is a valid rule, and each line shown
under it is a line the engine writes for that rule over the real day of 2025-06-22 (BTC and
DOGE 1-minute bars, replayed as `bitcoin` and `dogecoin`).

``CMTEST_UPDATE_DOCS=1`` rewrites each recipe's lines with its first episode's (a deliberate
change of a recipe or of the line format)."""

from __future__ import annotations

import os
import re
from collections import defaultdict

from cryptomonitor.alerting import cache, lineformat, rules
from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.sources import barfiles
from tests.support.paths import FIXTURES, ROOT

DOC = ROOT / "docs" / "alerts.md"
_RECIPE = re.compile(r"```toml\n(.*?)```\n\n```\n(.*?)```\n", re.S)


def cookbook() -> tuple[str, int, int]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- cookbook -->")
    end = text.index("\n## ", start)
    return text, start, end


def lines_by_rule(snippets: list[str]) -> dict[str, list[str]]:
    active = rules.loads("\n".join(snippets), "docs/alerts.md")
    ticks = sorted(
        [
            *barfiles.ticks(barfiles.read_bars(FIXTURES / "BTCUSDT_1m_2025-06-22.csv"), "bitcoin"),
            *barfiles.ticks(
                barfiles.read_bars(FIXTURES / "DOGEUSDT_1m_2025-06-22.csv"), "dogecoin"
            ),
        ],
        key=lambda t: (t.time, t.symbol),
    )
    engine = AlertEngine(active, 3600.0)
    known = engine.new_cache()
    known.load(cache.Missing(["bitcoin", "dogecoin"], ticks[0].time), [], [])
    out: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(ticks), 400):
        for e in engine.judge(known, ticks[i : i + 400]).events:
            out[e.rule].append(lineformat.format_line(e))
    return out


def first_episode(lines: list[str]) -> list[str]:
    episode = lineformat.parse_line(lines[0])["episode"]
    of_it = [line for line in lines if lineformat.parse_line(line)["episode"] == episode]
    return [of_it[0], of_it[-1]] if len(of_it) > 1 else of_it


def test_every_recipe_writes_the_lines_shown() -> None:
    text, start, end = cookbook()
    recipes = _RECIPE.findall(text[start:end])
    assert len(recipes) == 12, "the cookbook has twelve recipes"
    written = lines_by_rule([snippet for snippet, _ in recipes])
    update = os.environ.get("CMTEST_UPDATE_DOCS") == "1"
    section = text[start:end]
    for snippet, shown in recipes:
        (name,) = re.findall(r'^name = "([a-z0-9_]+)"', snippet, re.M)
        assert written[name], f"recipe {name} wrote no line over the day"
        if update:
            section = section.replace(
                f"```toml\n{snippet}```\n\n```\n{shown}```\n",
                f"```toml\n{snippet}```\n\n```\n"
                + "\n".join(first_episode(written[name]))
                + "\n```\n",
            )
            continue
        for line in shown.splitlines():
            assert line in written[name], f"{name}: not a line it writes: {line}"
    if update:
        DOC.write_text(text[:start] + section + text[end:], encoding="utf-8")
