"""Argument parsing with Redis's exact acceptance rules.

Redis is stricter than Python: `int()` takes "+1", " 1", "1_000" and "01",
and `float()` takes "1_0", " 1 " and "nan"; Redis refuses all of them. Every
handler parses numbers through these functions so the engine refuses exactly
what Redis refuses, with Redis's message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from queuekit.engine import errors, longdouble
from queuekit.engine.errors import CommandError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(raw: bytes, message: str = errors.NOT_INTEGER) -> int:
    """Redis's string2ll: a canonical signed 64-bit decimal, nothing else."""
    if raw.isdigit():
        if raw[0] == 0x30 and len(raw) > 1:  # "01" is not canonical
            raise CommandError(message)
    elif not (len(raw) > 1 and raw[0] == 0x2D and raw[1:].isdigit() and raw[1] != 0x30):
        raise CommandError(message)
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise CommandError(message)
    return value


def parse_double(raw: bytes, message: str = errors.NOT_FLOAT) -> float:
    """Redis's string2d (strtod): no spaces, no NaN, no overflow to infinity."""
    if not raw or raw[:1].isspace() or len(raw) > 5 * 1024:
        raise CommandError(message)
    text = raw.decode("latin-1")
    try:
        value = _strtod(text)
    except ValueError:
        raise CommandError(message) from None
    if math.isnan(value):
        raise CommandError(message)
    return value


def _strtod(text: str) -> float:
    """strtod over a whole string: Python's float() minus its extensions."""
    if "_" in text or text != text.strip():
        raise ValueError(text)
    body = text.lstrip("+-").lower()
    if body.startswith("0x"):
        return float.fromhex(text)
    value = float(text)
    if math.isinf(value) and body not in ("inf", "infinity"):
        raise ValueError(text)  # ERANGE overflow
    if value == 0.0 and any(digit in "123456789" for digit in body.split("e")[0]):
        raise ValueError(text)  # ERANGE underflow to zero
    return value


def parse_timeout_ms(raw: bytes, now_ms: int) -> int | None:
    """A blocking command's timeout in seconds -> absolute deadline; None is forever.

    Redis 7.0 parses it as a long double and casts ceil(seconds * 1000) to a
    long long: so -0.0005 rounds up to 0, forever, while 1e30 and inf cast
    to INT64_MIN, "negative". A deadline past INT64_MAX never comes.
    """
    if raw.isdigit() and len(raw) < 16:  # whole seconds, the usual case: exact
        millis = int(raw) * 1000
    else:
        millis = _timeout_millis(raw)
        if millis < 0:
            raise CommandError(errors.TIMEOUT_NEGATIVE)
    if millis == 0 or millis > INT64_MAX - now_ms:
        return None
    return now_ms + millis


def _timeout_millis(raw: bytes) -> int:
    """(long long) ceill(strtold(raw) * 1000), out-of-range casts giving INT64_MIN as on x86."""
    try:
        seconds = longdouble.parse(raw)
    except ValueError:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT) from None
    if seconds is None:  # infinity
        return INT64_MIN
    m, e = seconds
    if e >= 0:
        product = longdouble.nearest(m * 1000 << e, 1)
    else:
        product = longdouble.nearest(m * 1000, 1 << -e)
    if product is None:
        return INT64_MIN
    m, e = product
    millis = m << e if e >= 0 else -(-m >> -e)  # ceil of m * 2**e
    return millis if INT64_MIN <= millis <= INT64_MAX else INT64_MIN


def parse_count(raw: bytes) -> int:
    """A COUNT argument of the pop family: a non-negative integer."""
    count = parse_int(raw, errors.OUT_OF_RANGE_POSITIVE)
    if count < 0:
        raise CommandError(errors.OUT_OF_RANGE_POSITIVE)
    return count


def parse_range(raw: bytes, low: int, high: int) -> int:
    """Redis's getRangeLongFromObjectOrReply without a custom message."""
    value = parse_int(raw)
    if not low <= value <= high:
        raise CommandError(errors.value_out_of_range(low, high))
    return value


def upper(raw: bytes) -> bytes:
    """Option names are case-insensitive in Redis."""
    return raw.upper()


def pairs(argv: Sequence[bytes], start: int) -> list[tuple[bytes, bytes]]:
    """argv[start:] as (a, b) pairs; the caller has checked the count is even."""
    rest = argv[start:]
    return list(zip(rest[0::2], rest[1::2], strict=True))


def index_span(size: int, start: int, end: int) -> tuple[int, int]:
    """Redis's inclusive start..end, negative from the tail, as a half-open [lo, hi).

    The normalisation LRANGE, LTRIM and ZRANGE share: out-of-range ends are
    clamped, and an empty selection is (0, 0).
    """
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return 0, 0
    return start, min(end, size - 1) + 1
