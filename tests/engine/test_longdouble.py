"""Units for the long double emulation behind INCRBYFLOAT."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuekit.engine import longdouble

# Replies of redis-server 7.0.15 (x86-64, 80-bit long double) to INCRBYFLOAT
# on a missing key, recorded because they are too long to read in a case.
E4500_SHA256 = "6352fcd2383be031661df53df8cd15a4cfad45dafac4aa093b8c6e055434a831"
MAX_SHA256 = "39319dad6400899a3385cef1c62991c21106f7f12a7dea6f3849a857ad9131a6"


@pytest.mark.parametrize(
    ("increment", "expected"),
    [
        (b"10.1", b"10.1"),
        (b"0.000003814697265625", b"0.00000381469726562"),  # a tie, to even
        (b"-0.000000000000000015", b"-0.00000000000000002"),
        (b"-1e-18", b"0"),
        (b"0x1.8p1", b"3"),
        (b"0." + b"0" * 10 + b"1" * 5000, b"0.00000000001111111"),
        (b"0x1p-16445", b"0"),  # the smallest subnormal
    ],
)
def test_long_double_parse_and_print(increment: bytes, expected: bytes) -> None:
    """Values and their printed forms, as redis-server 7.0 answers INCRBYFLOAT."""
    value = longdouble.parse(increment)
    assert value is not None
    assert longdouble.to_text(value) == expected


def test_long_double_huge_values_print_every_digit() -> None:
    """Values with more digits than Python's int-to-str limit print exactly."""
    huge = longdouble.parse(b"1e4500")
    largest = longdouble.parse(b"1.18973149535723176502e4932")
    assert huge is not None and largest is not None
    assert hashlib.sha256(longdouble.to_text(huge)).hexdigest() == E4500_SHA256
    assert hashlib.sha256(longdouble.to_text(largest)).hexdigest() == MAX_SHA256
    assert longdouble.add(largest, largest) is None


@pytest.mark.parametrize(
    "text",
    [b"", b" 1", b"1 ", b"nan", b"1e", b"0x", b"1e5000", b"1e-5000", b"0x1p-16446", b"1.5\x00"],
)
def test_long_double_refuses_what_string2ld_refuses(text: bytes) -> None:
    """Spaces, NaN, overflow and underflow to zero are not valid floats."""
    with pytest.raises(ValueError):
        longdouble.parse(text)


def test_long_double_accepts_infinity_and_huge_zero_exponents() -> None:
    """strtold reads "inf" (the caller refuses the sum) and 0e99999999999 as zero."""
    assert longdouble.parse(b"-Infinity") is None
    assert longdouble.parse(b"0e99999999999") == longdouble.ZERO
    assert longdouble.parse(b"1" * 5100 + b"e-5100") is not None
    with pytest.raises(ValueError):
        longdouble.parse(b"1" * 5120)


def test_sum_rounds_ties_to_even() -> None:
    """2**64 + 1 needs 65 bits: the tie goes to the even significand, 2**64."""
    big = longdouble.from_int(2**63)
    total = longdouble.add(big, big)
    assert total is not None
    one = longdouble.from_int(1)
    tie = longdouble.add(total, one)
    assert tie is not None
    assert longdouble.to_text(tie) == b"18446744073709551616"
    above = longdouble.add(tie, longdouble.from_int(3))
    assert above is not None
    assert longdouble.to_text(above) == b"18446744073709551620"


@given(
    num=st.integers(min_value=-(2**200), max_value=2**200),
    den=st.integers(min_value=1, max_value=2**200),
)
def test_nearest_is_the_closest_long_double(num: int, den: int) -> None:
    """No neighbour of the chosen significand is closer to num / den."""
    value = longdouble.nearest(num, den)
    assert value is not None
    m, e = value
    assert abs(m) < 2**64
    exact = Fraction(num, den)
    chosen = abs(exact - m * Fraction(2) ** e)
    for neighbour in (m - 1, m + 1):
        assert chosen <= abs(exact - neighbour * Fraction(2) ** e)
    if m and e > longdouble.MIN_EXPONENT:
        assert abs(m) >= 2**63  # normal values keep a full significand
