from __future__ import annotations

import pathlib

import pytest

from cryptomonitor import config
from cryptomonitor.config import values
from cryptomonitor.exceptions import ConfigError
from tests.support.paths import ROOT


def test_defaults() -> None:
    s = config.load({})
    assert s.coins == ("bitcoin", "ethereum", "zcash")
    assert s.vs_currency == "usd"
    assert s.poll_interval == 30.0
    assert s.coingecko_url == "https://api.coingecko.com/api/v3"
    assert s.alerts_file == pathlib.Path("alerts/alerts.txt")
    assert s.database_url is None and s.conninfo == ""
    assert s.rules_file is None


def test_environment_then_flag_overrides() -> None:
    env = {
        "CRYPTOMONITOR_COINS": " Bitcoin, monero ,bitcoin",
        "CRYPTOMONITOR_POLL_INTERVAL": "0.5",
        "DATABASE_URL": "postgresql://u:secret@h/db",
    }
    s = config.load(env)
    assert s.coins == ("bitcoin", "monero")
    assert s.poll_interval == 0.5
    s = config.load(env, {"poll_interval": "5m", "coins": None})
    assert s.poll_interval == 300.0
    assert s.coins == ("bitcoin", "monero")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("0.25", 0.25), ("250ms", 0.25), ("5m", 300), ("1h", 3600), ("1d", 86400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert values.parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CRYPTOMONITOR_POLL_INTERVAL": "0"}, "CRYPTOMONITOR_POLL_INTERVAL"),
        ({"CRYPTOMONITOR_POLL_INTERVAL": "-5"}, "CRYPTOMONITOR_POLL_INTERVAL"),
        ({"CRYPTOMONITOR_POLL_INTERVAL": "soon"}, "CRYPTOMONITOR_POLL_INTERVAL"),
        ({"CRYPTOMONITOR_COINS": "bit coin"}, "CRYPTOMONITOR_COINS"),
        ({"CRYPTOMONITOR_COINS": " , "}, "CRYPTOMONITOR_COINS"),
        ({"CRYPTOMONITOR_VS_CURRENCY": "US Dollar"}, "CRYPTOMONITOR_VS_CURRENCY"),
        ({"CRYPTOMONITOR_COINGECKO_URL": "ftp://x"}, "CRYPTOMONITOR_COINGECKO_URL"),
        ({"CRYPTOMONITOR_LOG_LEVEL": "loud"}, "CRYPTOMONITOR_LOG_LEVEL"),
        ({"CRYPTOMONITOR_BUFFER_MAX_TICKS": "0"}, "CRYPTOMONITOR_BUFFER_MAX_TICKS"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config.load(env)


def test_bad_flag_is_named_as_flag() -> None:
    with pytest.raises(ConfigError, match="--poll-interval"):
        config.load({}, {"poll_interval": "0"})


def test_misspelled_variable_fails_with_suggestion() -> None:
    with pytest.raises(
        ConfigError,
        match=r"CRYPTOMONITOR_POLL_INTERVALL \(did you mean "
        r"CRYPTOMONITOR_POLL_INTERVAL\?\)",
    ):
        config.load({"CRYPTOMONITOR_POLL_INTERVALL": "5"})


def test_redacted_hides_secrets() -> None:
    s = config.load(
        {
            "DATABASE_URL": "postgresql://app:hunter2@db/x",
            "CRYPTOMONITOR_COINGECKO_API_KEY": "CG-key",
        }
    )
    shown = s.redacted()
    assert "hunter2" not in str(shown) and "CG-key" not in str(shown)
    assert shown["database_url"] == "postgresql://app:***@db/x"


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("host=db user=app password=hunter2 dbname=x", "user=app password=*** dbname=x host=db"),
        ("host=db password='hun ter2'", "password=*** host=db"),
        (
            "postgresql://app@db/x?password=hunter2&sslmode=require",
            "postgresql://app@db/x?password=***&sslmode=require",
        ),
        ("postgresql://db/x", "postgresql://db/x"),
        ("postgresql:///x?host=/var/run/postgresql", "postgresql:///x?host=/var/run/postgresql"),
    ],
)
def test_password_is_hidden_in_every_dsn_form(dsn: str, shown: str) -> None:
    assert config.load({"DATABASE_URL": dsn}).redacted()["database_url"] == shown


@pytest.mark.parametrize(
    "dsn",
    ["host=db password='hunter2", "postgresql://u:hunter2 x@h/db", "postgresql://u:hunter2@[h/db"],
)
def test_an_unparseable_dsn_is_refused_without_showing_it(dsn: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL: not a libpq URL") as e:
        config.load({"DATABASE_URL": dsn})
    assert "hunter2" not in str(e.value)
    assert config.redact_url("host=db password='hunter2") == "***"  # were it ever logged


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    for option in config.OPTIONS:
        assert option.env in text, f"{option.env} missing from .env.example"


def test_storage_policy_settings() -> None:
    s = config.load({})
    assert (s.compress_after, s.ticks_retention) == (7 * 86400, 365 * 86400)
    s = config.load({"CRYPTOMONITOR_COMPRESS_AFTER": "off", "CRYPTOMONITOR_TICKS_RETENTION": "off"})
    assert (s.compress_after, s.ticks_retention) == (None, None)
    with pytest.raises(ConfigError, match=r"CRYPTOMONITOR_TICKS_RETENTION.*31d"):
        config.load({"CRYPTOMONITOR_TICKS_RETENTION": "7d"})
