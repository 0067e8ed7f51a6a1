"""The x87 80-bit long double, exactly, for INCRBYFLOAT and HINCRBYFLOAT.

Redis 7.0 parses both operands with strtold, adds them in long double and
stores the sum printed by ld2string(LD_STR_HUMAN): "%.17Lf" with trailing
zeros and a trailing '.' stripped, "-0" shown as "0". On x86-64 a long double
has a 64-bit significand and a 15-bit exponent; Python has no such type, so
this module computes with exact integers and rounds where the hardware does.

Rules:

1. A finite value is a pair (m, e) meaning m * 2**e with |m| < 2**64, what
   one long double can hold (subnormals included). Each operand and each sum
   is rounded to the nearest such value, ties to even, as strtold and the FPU
   round.
2. `parse` accepts exactly what Redis's string2ld accepts: the whole text is
   one strtold number (decimal, hex "0x1.8p3", "inf", "infinity"), no
   leading space, not NaN, no overflow, no underflow to zero, shorter than
   MAX_TEXT bytes. Infinity parses (to None) because strtold accepts it; the
   caller refuses the sum.
3. `to_text` prints the exact binary value with 17 decimals, rounded half to
   even, as glibc's printf does.
"""

from __future__ import annotations

import re

Finite = tuple[int, int]
"""(m, e): the long double m * 2**e."""

SIGNIFICAND_BITS = 64
# The smallest subnormal is 2**-16445 (min normal 2**-16382, 63 fraction bits).
MIN_EXPONENT = -16445
# Every finite value is below 2**16384: the largest is (2**64 - 1) * 2**16320.
MAX_EXPONENT = 16384 - SIGNIFICAND_BITS
# Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses text this long or longer.
MAX_TEXT = 5 * 1024
# Decimal magnitudes (exponent of the leading digit, plus one) beyond which
# rounding is certain: 10**4933 overflows, 10**-4952 is under half the
# smallest subnormal (about 3.6e-4951).
DECIMAL_OVERFLOW = 4934
DECIMAL_UNDERFLOW = -4952
# Python refuses int <-> str conversions of more digits than this by default.
INT_STR_CHUNK = 4000
# %.17Lf
DECIMALS = 17

_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)

ZERO: Finite = (0, 0)


def parse(raw: bytes) -> Finite | None:
    """strtold as string2ld uses it: a finite value, or None for infinity.

    Raises ValueError for text Redis refuses (see rule 2).
    """
    if not raw or len(raw) >= MAX_TEXT:
        raise ValueError(raw)
    if _INFINITY.fullmatch(raw):
        return None
    match = _HEX.fullmatch(raw)
    if match is not None:
        value = _parse_hex(match)
    else:
        match = _DECIMAL.fullmatch(raw)
        if match is None:
            raise ValueError(raw)
        value = _parse_decimal(match)
    if value is None:
        raise ValueError(raw)  # strtold's ERANGE: overflow, or underflow to zero
    return value


def from_int(value: int) -> Finite:
    """A counter's value, an int64: always exact (|value| <= 2**63)."""
    return value, 0


def add(a: Finite, b: Finite) -> Finite | None:
    """a + b rounded to a long double; None if the sum overflows to infinity."""
    (ma, ea), (mb, eb) = a, b
    if mb == 0:
        return a
    if ma == 0:
        return b
    e = min(ea, eb)
    total = (ma << (ea - e)) + (mb << (eb - e))
    if e >= 0:
        return nearest(total << e, 1)
    return nearest(total, 1 << -e)


def to_text(value: Finite) -> bytes:
    """ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and '.' cut, no "-0"."""
    m, e = value
    magnitude = abs(m)
    if e >= 0:
        whole, fraction = magnitude << e, 0
    else:
        scaled, rest = divmod(magnitude * 10**DECIMALS << 1, 1 << -e)
        rounded = scaled >> 1
        # Half to even: above half, or exactly half with an odd last digit.
        if scaled & 1 and (rest or rounded & 1):
            rounded += 1
        whole, fraction = divmod(rounded, 10**DECIMALS)
    text = _digits(whole)
    if fraction:
        text += "." + f"{fraction:0{DECIMALS}d}".rstrip("0")
    if m < 0 and text != "0":
        text = "-" + text
    return text.encode()


def nearest(num: int, den: int) -> Finite | None:
    """num / den (den > 0) rounded to the nearest long double, ties to even.

    None if it rounds to infinity. Below the normal range the exponent stays
    at MIN_EXPONENT and the significand shrinks (gradual underflow).
    """
    if num == 0:
        return ZERO
    magnitude = abs(num)
    e = max(magnitude.bit_length() - den.bit_length() - SIGNIFICAND_BITS, MIN_EXPONENT)
    quotient, rest, divisor = _divide(magnitude, den, e)
    if quotient >> SIGNIFICAND_BITS:
        e += 1
        quotient, rest, divisor = _divide(magnitude, den, e)
    twice = rest << 1
    if twice > divisor or (twice == divisor and quotient & 1):
        quotient += 1
        if quotient >> SIGNIFICAND_BITS:
            quotient >>= 1
            e += 1
    if e > MAX_EXPONENT:
        return None
    if quotient == 0:
        return ZERO  # underflow: below half the smallest subnormal
    return (-quotient if num < 0 else quotient), e


def _divide(num: int, den: int, e: int) -> tuple[int, int, int]:
    """num / (den * 2**e) as quotient, remainder and divisor."""
    if e < 0:
        divisor = den
        quotient, rest = divmod(num << -e, den)
    else:
        divisor = den << e
        quotient, rest = divmod(num, divisor)
    return quotient, rest, divisor


def _parse_decimal(match: re.Match[bytes]) -> Finite | None:
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or b""
    if not whole and not fraction:
        raise ValueError(match.string)  # "", ".", "e5": no digits, no conversion
    digits = (whole + fraction).lstrip(b"0")
    if not digits:
        return ZERO
    stripped = digits.rstrip(b"0")
    shift = _exponent(exponent) - len(fraction) + len(digits) - len(stripped)
    magnitude = shift + len(stripped)
    if magnitude > DECIMAL_OVERFLOW:
        return None
    if magnitude < DECIMAL_UNDERFLOW:
        return None
    mantissa = _integer(stripped)
    if sign == b"-":
        mantissa = -mantissa
    value = nearest(mantissa * 10**shift, 1) if shift >= 0 else nearest(mantissa, 10**-shift)
    return None if value == ZERO else value


def _parse_hex(match: re.Match[bytes]) -> Finite | None:
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or b""
    if not whole and not fraction:
        raise ValueError(match.string)  # "0x" alone: strtold stops after the 0
    mantissa = int(whole + fraction, 16)
    if mantissa == 0:
        return ZERO
    shift = _exponent(exponent) - 4 * len(fraction)
    bits = shift + mantissa.bit_length()
    if bits > MAX_EXPONENT + SIGNIFICAND_BITS or bits < MIN_EXPONENT - 2:
        return None
    if sign == b"-":
        mantissa = -mantissa
    value = nearest(mantissa << shift, 1) if shift >= 0 else nearest(mantissa, 1 << -shift)
    return None if value == ZERO else value


def _exponent(raw: bytes | None) -> int:
    """An exponent's digits; absurd ones are clamped (they round the same)."""
    if raw is None:
        return 0
    negative = raw[:1] == b"-"
    digits = raw.lstrip(b"+-").lstrip(b"0") or b"0"
    if len(digits) > 9:
        return -(10**9) if negative else 10**9
    value = int(digits)
    return -value if negative else value


def _integer(digits: bytes) -> int:
    """int(digits) for any length (Python caps one conversion at 4300 digits)."""
    value = 0
    for start in range(0, len(digits), INT_STR_CHUNK):
        chunk = digits[start : start + INT_STR_CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _digits(value: int) -> str:
    """str(value) for any size (see `_integer`)."""
    if value < 10**INT_STR_CHUNK:
        return str(value)
    high, low = divmod(value, 10**INT_STR_CHUNK)
    return _digits(high) + f"{low:0{INT_STR_CHUNK}d}"
