"""Redis's error replies, byte for byte.

Every error string the engine can answer with lives here, spelled exactly as
Redis 7.0 spells it, because clients such as redis-py pick an exception class
from the first word (WRONGTYPE, EXECABORT, OOM, NOAUTH...) and users grep for
the rest. Handlers raise `CommandError`; the dispatcher turns it into an error
reply (or, inside EXEC, into one element of the EXEC array).
"""

from __future__ import annotations

from collections.abc import Sequence


class CommandError(Exception):
    """Raised when a command must answer with an error reply.

    `message` is the whole reply text without the leading '-', e.g.
    "ERR syntax error". The engine never raises anything else for bad input.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"CommandError({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NAN_OR_INFINITY = "ERR increment would produce NaN or Infinity"
NO_SUCH_KEY = "ERR no such key"
INDEX_OUT_OF_RANGE = "ERR index out of range"
OUT_OF_RANGE_POSITIVE = "ERR value is out of range, must be positive"
SAME_OBJECT = "ERR source and destination objects are the same"
INVALID_CURSOR = "ERR invalid cursor"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
MIN_MAX_NOT_FLOAT = "ERR min or max is not a float"
MIN_MAX_NOT_STRING_RANGE = "ERR min or max not valid string range item"
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"


def wrong_arity(name: bytes) -> str:
    """Redis: "ERR wrong number of arguments for 'get' command"."""
    return f"ERR wrong number of arguments for '{_text(name).lower()}' command"


def unknown_command(argv: Sequence[bytes]) -> str:
    """Redis quotes the name and the first arguments, each cut at 128 bytes."""
    head = "".join(f"'{_text(arg[:128])}' " for arg in argv[1:])
    return f"ERR unknown command '{_text(argv[0][:128])}', with args beginning with: {head}"


def unknown_subcommand(subcommand: bytes, command: str) -> str:
    return f"ERR unknown subcommand '{_text(subcommand[:128])}'. Try {command} HELP."


def invalid_expire_time(command: str) -> str:
    return f"ERR invalid expire time in '{command}' command"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
