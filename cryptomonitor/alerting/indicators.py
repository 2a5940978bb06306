"""Technical indicators over the closes of closed candles, as TradingView defines them. Pure.

Each function takes the closes of a symbol's closed candles of one interval, oldest first, and
returns the indicator's value at the last of them, or None when there are too few closes:

- `sma` (``ta.sma``): the mean of the last `length` closes;
- `ema` (``ta.ema``): alpha = 2 / (length + 1), seeded with the SMA of the first `length` closes
  given, then ``alpha * close + (1 - alpha) * previous`` for each later close;
- `rma` (``ta.rma``, Wilder's smoothing): the same with alpha = 1 / length;
- `rsi` (``ta.rsi``): ``100 - 100 / (1 + rma(gains) / rma(losses))`` of the changes from one
  close to the next; 100 where the losses' average is 0 and the gains' is not; no value where
  both are 0 (a flat history has no strength).

An EMA, an RMA and so an RSI depend on every close before them, ever fainter. The engine gives
them the last closes of a fixed count (`warmup`: 10 lengths for an EMA, 20 for an RSI: after
the seed's N, the 9N or 19N steps leave it a weight below 2e-8), so that the value at a candle
is a function of those candles alone: a restarted engine, a replay and the live run compute
the same digits.
docs/alerts.md, "Indicators", says so for users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

#: The indicators a rule can name (``sma:N``, ``ema:N``, ``rsi:N``), and ``close`` itself.
KINDS = ("sma", "ema", "rsi")
CLOSE = "close"
#: Candles of warm-up per unit of length: the seed's weight left at the end is
#: (1 - 2/(N+1))**(9N) < 2e-8 for an EMA, (1 - 1/N)**(19N) < 6e-9 for an RMA.
_WARMUP = {"sma": 1, "ema": 10, "rsi": 20}


def warmup(kind: str, length: int) -> int:
    """How many closed candles the indicator reads (`kind` ``close``: one)."""
    if kind == CLOSE:
        return 1
    return _WARMUP[kind] * length + (1 if kind == "rsi" else 0)


def sma(closes: Sequence[float], length: int) -> float | None:
    if len(closes) < length:
        return None
    return math.fsum(closes[len(closes) - length :]) / length


def exact(kind: str, length: int, closes: Sequence[float], value: float) -> Fraction | float:
    """The indicator's `value` as the rules compare it: an SMA exactly, the mean of the
    closes' exact binary values (a close often equals the mean of its neighbours in decimal:
    which side a rounded float lands on must not decide a cross); a close, an EMA or an RSI (a
    recursion of roundings) as the float it is, which is its exact value (Python compares a
    float and a Fraction exactly)."""
    if kind != "sma":
        return value
    numerators, shift = [], 0
    for close in closes[len(closes) - length :]:
        n, d = close.as_integer_ratio()  # d: a power of two
        numerators.append((n, d.bit_length() - 1))
        shift = max(shift, d.bit_length() - 1)
    total = sum(n << (shift - e) for n, e in numerators)
    return Fraction(total, length << shift)


def _smoothed(values: Sequence[float], length: int, alpha: float) -> float | None:
    if len(values) < length:
        return None
    average = math.fsum(values[:length]) / length
    keep = 1.0 - alpha
    for value in values[length:]:
        average = alpha * value + keep * average
    return average


def ema(closes: Sequence[float], length: int) -> float | None:
    return _smoothed(closes, length, 2.0 / (length + 1))


def rma(values: Sequence[float], length: int) -> float | None:
    return _smoothed(values, length, 1.0 / length)


def rsi(closes: Sequence[float], length: int) -> float | None:
    # The gains' and losses' RMAs in one pass (the digits of rma(gains) and rma(losses): a
    # zero term adds nothing: 0.0 + x is x).
    if len(closes) <= length:
        return None
    up = math.fsum(max(closes[i] - closes[i - 1], 0.0) for i in range(1, length + 1)) / length
    down = math.fsum(max(closes[i - 1] - closes[i], 0.0) for i in range(1, length + 1)) / length
    alpha = 1.0 / length
    keep = 1.0 - alpha
    previous = closes[length]
    for i in range(length + 1, len(closes)):
        close = closes[i]
        change = close - previous
        previous = close
        if change > 0:
            up = alpha * change + keep * up
            down = keep * down
        else:
            up = keep * up
            down = alpha * -change + keep * down
    if down == 0:
        return 100.0 if up > 0 else None
    return 100.0 - 100.0 / (1.0 + up / down)


def value(kind: str, length: int, closes: Sequence[float]) -> float | None:
    """The indicator `kind` (``close``, ``sma``, ``ema``, ``rsi``) of `length` at the last of
    `closes`."""
    if kind == CLOSE:
        return closes[-1] if closes else None
    if kind == "sma":
        return sma(closes, length)
    if kind == "ema":
        return ema(closes, length)
    return rsi(closes, length)


def parse(text: object) -> tuple[str, int]:
    """``close``, ``sma:N``, ``ema:N`` or ``rsi:N`` as (kind, length); ValueError otherwise."""
    if text == CLOSE:
        return CLOSE, 1
    kind, _, length = str(text).partition(":")
    if kind not in KINDS or not length.isdigit() or not 1 <= int(length) <= 1000:
        raise ValueError(
            f"{text!r} is not an indicator: close, sma:N, ema:N or rsi:N (N from 1 to 1000)"
        )
    if kind == "rsi" and int(length) < 2:
        raise ValueError(f"{text!r}: an RSI needs a length of 2 or more")
    return kind, int(length)


def label(text: str, interval: str) -> str:
    """An indicator as lines and sentences name it: ``RSI(14,1h)``, ``close(5m)``."""
    kind, length = parse(text)
    if kind == CLOSE:
        return f"close({interval})"
    return f"{kind.upper()}({length},{interval})"
