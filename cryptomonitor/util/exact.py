"""Exact sums of floats: every finite double is a whole multiple of 2**-k for some k, so a sum
kept as a Python int of 2**-k units is exact, and its quotient by a count is the correctly
rounded average. The alert windows (`alerting.windows`) and the replays' rolling volume
(`sources.barfiles`) share it. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_FRACTION_BITS = 1074  # every finite double is a whole multiple of 2**-1074


def bits_needed(x: float) -> int:
    """A k such that x * 2**k is a whole number (x finite): 53 fraction bits below its top."""
    return min(_FRACTION_BITS, max(0, 53 - math.frexp(x)[1])) if x else 0


def units(x: float, k: int) -> int:
    """`x` as a whole number of 2**-k units; k must be at least ``bits_needed(x)``."""
    try:
        return int(math.ldexp(x, k))  # exact: a power-of-two scaling of a whole number
    except OverflowError:  # beyond the float range: the slow exact way
        n, d = x.as_integer_ratio()
        return n << (k + 1 - d.bit_length())


def exact_sum(values: Sequence[float], k: int) -> tuple[int, int]:
    """The exact sum of `values` as (whole number of 2**-k2 units, k2), k2 >= k the smallest
    that fits them all. C-speed: multiplying by a power of two is exact, ints sum exactly."""
    magnitudes = [abs(v) for v in values if v]
    if not magnitudes:
        return 0, k
    k = max(k, bits_needed(min(magnitudes)))
    if k > 1000 or math.frexp(max(magnitudes))[1] + k > 1000:  # scaled floats would overflow
        return sum(units(v, k) for v in values), k
    scale = math.ldexp(1.0, k)
    return sum(map(int, map(scale.__mul__, values))), k


def mean(total: int, count: int, k: int = 0) -> float | None:
    """The correctly rounded average of `count` values whose exact sum is `total` 2**-k units."""
    return total / (count << k) if count else None
