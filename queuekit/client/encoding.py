"""Turning Python arguments into the bytes a command is made of.

The rules redis-py users know: bytes pass through, str is UTF-8, int is
its decimal form, float its shortest round-trip form. Anything else (None,
bool, a dict...) is refused by name rather than stored as a surprise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Arg = bytes | str | int | float | bytearray | memoryview


def encode_arg(arg: Any) -> bytes:
    kind = type(arg)
    if kind is bytes:
        return arg  # type: ignore[no-any-return]
    if kind is str:
        return arg.encode()  # type: ignore[no-any-return]
    if kind is int:
        return str(arg).encode()
    if kind is float:
        return repr(arg).encode()
    if kind is bytearray or kind is memoryview:
        return bytes(arg)
    if isinstance(arg, str | bytes):  # subclasses, e.g. the engine's Status
        return arg.encode() if isinstance(arg, str) else bytes(arg)
    if isinstance(arg, int) and not isinstance(arg, bool):  # IntEnum...
        return str(int(arg)).encode()
    if isinstance(arg, float):  # numpy.float64 and other subclasses
        return repr(float(arg)).encode()
    raise TypeError(
        f"invalid argument {arg!r} of type {kind.__name__}: "
        "pass bytes, str, int or float (encode it first)"
    )


def encode_command(args: Sequence[Any]) -> tuple[bytes, ...]:
    """A whole command as bytes; cheap when every argument already is bytes."""
    for arg in args:
        if arg.__class__ is not bytes:
            return tuple(map(encode_arg, args))
    return tuple(args)
