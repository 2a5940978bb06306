"""The rules file: every key read, and every bad rule refused with the file, the line, the rule
and the key, before it reaches the engine."""

from __future__ import annotations

import datetime as dt

import pytest

from cryptomonitor.alerting import rules, ruletext
from cryptomonitor.exceptions import ConfigError

FULL = """
# a comment line
[[rule]]
name = "btc_100k"
condition = "above"
metric = "price"
thresholds = { bitcoin = 100000, ethereum = 4000 }
recover_thresholds = { bitcoin = 99500 }
for = "2m"
cooldown = "30m"
repeat = "15m"
severity = "critical"
symbols = ["bitcoin", "eth*"]
sources = ["binance-ws"]
expires = 2027-01-01T00:00:00Z

[[rule]]
name = "dump"
condition = "move"
lookback = "20m"
direction = "down"
unit = "absolute"
threshold = 500
once = true
enabled = false
"""


def test_every_key_is_read() -> None:
    first, second = rules.loads(FULL, "r.toml")
    assert first.thresholds == {"bitcoin": 100000.0, "ethereum": 4000.0}
    assert first.threshold is None and first.recover_for("bitcoin") == 99500.0
    assert first.recover_for("ethereum") is None
    assert (first.pending, first.cooldown, first.repeat) == (120.0, 1800.0, 900.0)
    assert first.severity == "critical" and first.sources == ("binance-ws",)
    assert first.expires == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert first.applies("ethereum", "binance-ws") and not first.applies("ethereum", "kraken-ws")
    assert not first.applies("solana", "binance-ws")  # not in `symbols`
    assert first.applies("bitcoin", "binance-ws")
    assert not first.applies("ethx", "binance-ws")  # matches eth*, but has no threshold
    assert (second.lookback, second.direction, second.unit, second.once) == (
        1200.0,
        "down",
        "absolute",
        True,
    )
    assert not second.enabled and second.lengths == (2400.0,)


def test_the_defaults_are_the_four_rules_with_a_recovery_level() -> None:
    names = [r.name for r in rules.DEFAULT_RULES]
    assert names == ["price_3x_1h", "volume_3x_1h", "price_2pct_5m", "volume_2pct_5m"]
    assert all(
        r.recover is not None and r.recover < (r.threshold or 0) for r in rules.DEFAULT_RULES
    )


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('condition = "above"\nthreshold = 1\ncolour = "red"', 5, "key 'colour': unknown key"),
        ('condition = "above"\nthreshold = 1\nwindow = "5m"', 5, "key 'window': does not apply"),
        ('condition = "move"\nthreshold = 0.05', 1, "key 'lookback': is required"),
        ('condition = "zscore"\nthreshold = 3', 1, "key 'window': is required"),
        ('condition = "move"\nlookback = "5x"\nthreshold = 1', 4, "key 'lookback': '5x' is not"),
        ('condition = "sideways"\nthreshold = 1', 3, "key 'condition': 'sideways' is not one"),
        ('condition = "above"\nthreshold = 100\nrecover = 101', 5, "must be below the level 100"),
        ('condition = "below"\nthreshold = 100\nrecover = 99', 5, "must be above the level 100"),
        (
            'condition = "deviation_above"\nwindow = "5m"\nthreshold = 0.02\nrecover = 0.03',
            6,
            "between 0 and the threshold 0.02",
        ),
        ('condition = "zscore"\nwindow = "1h"\nthreshold = -3', 5, "must be a positive number"),
        ('condition = "above"', 1, "key 'threshold': is missing"),
        ('condition = "above"\nthreshold = 1\nseverity = "loud"', 5, "'loud' is not one of"),
        ('condition = "above"\nthreshold = 1\nonce = true\nrepeat = "1h"', 6, "never repeats"),
        ('condition = "above"\nthreshold = 1\nexpires = 2027-01-01', 5, "with an offset"),
        ('condition = "above"\nthreshold = 1\nsymbols = []', 5, "non-empty list"),
        ('condition = "above"\nthreshold = 1\nthresholds = 5', 5, "table of symbol = number"),
        ('condition = "ratio_above"\nwindow = "1h"\nthreshold = 3\ndirection = "up"', 6, "apply"),
        ('condition = "above"\nthreshold = 1\nfor = "-1m"', 5, "positive duration"),
    ],
)
def test_a_bad_rule_is_refused_naming_file_line_rule_and_key(
    body: str, line: int, message: str
) -> None:
    text = '[[rule]]\nname = "r"\n' + body + "\n"  # the body starts on line 3
    with pytest.raises(ConfigError) as caught:
        rules.loads(text, "rules.toml")
    error = str(caught.value)
    assert error.startswith(f"rules.toml:{line}: rule 'r'"), error
    assert message in error, error


def test_the_line_of_the_key_is_named() -> None:
    text = '[[rule]]\nname = "a"\ncondition = "above"\nthreshold = 1\n\n[[rule]]\nname = "b"\n'
    text += 'condition = "move"\nthreshold = 1\nlookback = "soon"\n'
    with pytest.raises(ConfigError, match=r"^r.toml:10: rule 'b', key 'lookback': 'soon'"):
        rules.loads(text, "r.toml")


def test_a_name_used_twice_is_refused() -> None:
    text = '[[rule]]\nname = "a"\ncondition = "above"\nthreshold = 1\n' * 2
    with pytest.raises(ConfigError, match=r"^r.toml:6: rule 'a' is defined twice"):
        rules.loads(text, "r.toml")


def test_invalid_toml_is_refused_with_its_position() -> None:
    with pytest.raises(ConfigError, match=r"r.toml is not valid TOML: .*line 2"):
        rules.loads('[[rule]]\nname = "a\n', "r.toml")


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            'condition = "above"\nsymbols = ["bitcoin"]\nthreshold = 100000\nrecover = 99500',
            "ALERT when bitcoin's price rises above 100,000; RESOLVED when it falls to 99,500 "
            "or below; severity warning",
        ),
        (
            'condition = "move"\nlookback = "20m"\ndirection = "down"\nthreshold = 0.05\n'
            'for = "1m"\ncooldown = "1h"\nseverity = "critical"',
            "ALERT when a symbol's price falls more than 5% in 20m, holding for 1m; RESOLVED "
            "when it has fallen no more than 5% in 20m; no new ALERT within 1h of a RESOLVED; "
            "severity critical",
        ),
        (
            'condition = "zscore"\nwindow = "1h"\nthreshold = 3\nmin_samples = 30\nonce = true',
            "ALERT when a symbol's price is more than 3 standard deviations away from its 1h "
            "mean; RESOLVED when it is no more than 3 standard deviations from its 1h mean; "
            "once per symbol; once its window holds 30 values; severity warning",
        ),
    ],
)
def test_each_rule_reads_as_a_sentence(text: str, sentence: str) -> None:
    (rule,) = rules.loads(f'[[rule]]\nname = "r"\n{text}\n')
    assert ruletext.sentence(rule) == sentence


def test_the_example_file_holds_the_defaults_and_checks() -> None:
    from tests.support.paths import ROOT

    assert rules.load(ROOT / "rules.example.toml") == rules.DEFAULT_RULES
    assert len(rules.loads((ROOT / "rules.example.toml").read_text())) == 8  # four switched off


COMBINED = """
[[rule]]
name = "a"
condition = "above"
threshold = 1
silent = true

[[rule]]
name = "b"
condition = "any"
of = ["a", "c"]

[[rule]]
name = "c"
condition = "below"
threshold = 0
"""


def test_a_combination_comes_after_its_members() -> None:
    order = [r.name for r in rules.evaluation_order(rules.loads(COMBINED))]
    assert order == ["a", "c", "b"]
    b = rules.loads(COMBINED)[1]
    assert (b.metric, b.threshold, b.of) == ("rules", 1.0, ("a", "c"))
    assert ruletext.sentence(b).startswith("ALERT when any of a, c is firing for a symbol;")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            COMBINED.replace('of = ["a", "c"]', 'of = ["a", "x"]'),
            "r.toml:11: rule 'b', key 'of': no rule",
        ),
        (
            COMBINED + '\n[[rule]]\nname = "d"\ncondition = "all"\nof = ["b", "d"]\n',
            "a cycle: d -> d",
        ),
        (
            COMBINED.replace("threshold = 0\n", "threshold = 0\nenabled = false\n"),
            "key 'of': rule 'c' is disabled",
        ),
        (COMBINED.replace('of = ["a", "c"]', 'of = ["a"]'), "two or more other rules"),
        (COMBINED.replace('of = ["a", "c"]', 'of = ["a", "c"]\nthreshold = 2'), "'threshold'"),
        (COMBINED.replace("silent = true", 'of = ["c", "b"]'), "only to the conditions"),
    ],
)
def test_a_bad_combination_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rules.loads(text, "r.toml")
    assert message in str(caught.value), caught.value


def test_a_cycle_through_two_combinations_is_refused() -> None:
    text = COMBINED.replace('of = ["a", "c"]', 'of = ["a", "e"]')
    text += '\n[[rule]]\nname = "e"\ncondition = "all"\nof = ["b", "c"]\n'
    with pytest.raises(ConfigError, match=r"a cycle: b -> e -> b"):
        rules.loads(text, "r.toml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('window = "5m"\nbaseline = "8m"\nthreshold = 3', "at least twice the window"),
        ('window = "5m"\nthreshold = 3', "key 'baseline': is required"),
        ('window = "5m"\nbaseline = "1h"\nthreshold = 3\nmetric = "price"', "key 'metric'"),
        ('window = "5m"\nbaseline = "1h"\nthreshold = 3\nrecover = 4', "between 0 and"),
    ],
)
def test_a_bad_surge_is_refused(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules.loads(f'[[rule]]\nname = "s"\ncondition = "surge"\n{body}\n', "r.toml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('metric = "rsi:14"\ncondition = "above"\nthreshold = 70', "key 'interval': is required"),
        (
            'metric = "rsi:14"\ninterval = "7m"\ncondition = "above"\nthreshold = 70',
            "whole minutes that divide a day",
        ),
        ('metric = "macd:9"\ninterval = "1h"\ncondition = "above"\nthreshold = 1', "not an ind"),
        ('metric = "rsi:14"\ninterval = "1h"\ncondition = "zscore"\nthreshold = 1', "above, be"),
        (
            'metric = "rsi:14"\ninterval = "1h"\ncondition = "above"\nthreshold = 70\nrecover = 75',
            "must be below the level",
        ),
        (
            'metric = "rsi:14"\ninterval = "1h"\ncondition = "above"\nthreshold = 70\n'
            'window = "1h"',
            "key 'window': does not apply",
        ),
        ('condition = "cross"\nfast = "ema:9"\nslow = "ema:21"\ninterval = "1h"', "direction"),
        (
            'condition = "cross"\nfast = "ema:9"\ninterval = "1h"\ndirection = "up"',
            "key 'slow': is required",
        ),
        (
            'condition = "cross"\nfast = "rsi:9"\nslow = "ema:21"\ninterval = "1h"\n'
            'direction = "up"',
            "a cross compares close, sma, ema",
        ),
        (
            'condition = "cross"\nfast = "ema:9"\nslow = "ema:9"\ninterval = "1h"\n'
            'direction = "up"',
            "nothing would cross",
        ),
        (
            'condition = "cross"\nfast = "ema:9"\nslow = "ema:21"\ninterval = "1h"\n'
            'direction = "up"\nthreshold = 0.01\nrecover = 0.02',
            "below the margin",
        ),
        ('condition = "above"\nthreshold = 1\ninterval = "1h"', "key 'interval': applies to"),
        ('condition = "outside"\nband = [105000, 95000]', "low < high"),
        ('condition = "outside"\nband = [95000, 105000]\nthreshold = 2', "band of levels"),
        (
            'condition = "outside"\nband = [95000, 105000]\nrecover_band = [94000, 104000]',
            "within the band",
        ),
        (
            'condition = "inside"\nband = [95000, 105000]\nrecover_band = [96000, 104000]',
            "contain the band",
        ),
        ('condition = "inside"\nband = [1, 2]\ndirection = "up"', "key 'direction'"),
        ('condition = "outside"\nthreshold = 2', "key 'window': is required"),
        ('condition = "inside"\nwindow = "1h"\nthreshold = 2\nrecover = 1', "must be above 2"),
        ('condition = "above"\nthreshold = 1\nband = [1, 2]', "key 'band': applies to"),
        (
            'metric = "rsi:14"\ninterval = "1h"\ncondition = "above"\nthreshold = 150',
            "key 'threshold': 150: an RSI lies between 0 and 100",
        ),
        (
            'metric = "rsi:14"\ninterval = "1h"\ncondition = "above"\nthreshold = 70\n'
            'sources = ["binance-ws"]',
            "key 'sources': does not apply to a rule on candles",
        ),
        (
            'condition = "cross"\nfast = "ema:9"\nslow = "ema:21"\ninterval = "1h"\n'
            'direction = "up"\nrecover_thresholds = { bitcoin = 0 }',
            "key 'recover_thresholds': a cross takes one threshold",
        ),
    ],
)
def test_a_bad_indicator_or_band_is_refused(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rules.loads(f'[[rule]]\nname = "x"\n{body}\n', "r.toml")


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (
            'metric = "rsi:14"\ninterval = "1h"\ncondition = "above"\nthreshold = 70\n'
            'recover = 65\nsymbols = ["dogecoin"]',
            "ALERT when dogecoin's RSI(14,1h) is above 70 at the close of a 1h candle; "
            "RESOLVED when it is 65 or below; severity warning",
        ),
        (
            'condition = "cross"\nfast = "sma:50"\nslow = "sma:200"\ninterval = "1d"\n'
            'direction = "up"',
            "ALERT when a symbol's SMA(50,1d) crosses above SMA(200,1d) at the close of a 1d "
            "candle; RESOLVED when it is at or below it; severity warning",
        ),
        (
            'condition = "outside"\nband = [95000, 105000]\nrecover_band = [95500, 104500]',
            "ALERT when a symbol's price leaves 95,000-105,000; RESOLVED when it is back inside "
            "95,500-104,500; severity warning",
        ),
        (
            'condition = "outside"\nwindow = "1h"\nthreshold = 2\ndirection = "up"',
            "ALERT when a symbol's price is more than 2 standard deviations above its 1h mean; "
            "RESOLVED when it is within 2 standard deviations of it; once its window holds 2 "
            "values; "
            "severity warning",
        ),
    ],
)
def test_indicators_and_bands_read_as_sentences(body: str, sentence: str) -> None:
    (r,) = rules.loads(f'[[rule]]\nname = "x"\n{body}\n')
    assert ruletext.sentence(r) == sentence
