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
DECREMENT_OVERFLOW = "ERR decrement would overflow"  # DECRBY with the minimum int64
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
SCORE_NAN = "ERR resulting score is not a number (NaN)"  # ZINCRBY inf + -inf
ZADD_NX_XX = "ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIRS = "ERR INCR option supports a single increment-element pair"
ZRANGE_LIMIT_BY_RANK = (
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
)
ZRANGE_BYLEX_WITHSCORES = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
VALUE_OUT_OF_RANGE = "ERR value is out of range"  # HRANDFIELD WITHVALUES count
VALUE_NAN_OR_INFINITY = "ERR value is NaN or Infinity"  # HINCRBYFLOAT increment
NUMKEYS_OVER_ARGS = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"
LPOS_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
LPOS_COUNT_NEGATIVE = "ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
# Writes (and PING) while the last background save failed (stop-writes-on-bgsave-error).
MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
    "persist to disk. Commands that may modify the data set are disabled, because this "
    "instance is configured to report errors during writes if RDB snapshotting fails "
    "(stop-writes-on-bgsave-error option). Please check the Redis logs for details "
    "about the RDB error."
)
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
EXPIRE_NX_AND_OTHERS = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_AND_LT = "ERR GT and LT options at the same time are not compatible"


def wrong_arity(name: bytes) -> str:
    """Redis: "ERR wrong number of arguments for 'get' command"."""
    return f"ERR wrong number of arguments for '{_text(name).lower()}' command"


def unknown_command(argv: Sequence[bytes]) -> str:
    """Redis quotes the name and the first arguments, each cut at 128 bytes."""
    head = "".join(f"'{_text(arg[:128])}' " for arg in argv[1:])
    return f"ERR unknown command '{_text(argv[0][:128])}', with args beginning with: {head}"


def exec_abort_because(reason: str) -> str:
    """EXEC refused by the dispatcher (arity, OOM): Redis's execCommandAbort."""
    return f"EXECABORT Transaction discarded because of: {reason}"


def unknown_subcommand(subcommand: bytes, command: str) -> str:
    return f"ERR unknown subcommand '{_text(subcommand[:128])}'. Try {command} HELP."


def invalid_expire_time(command: str) -> str:
    return f"ERR invalid expire time in '{command}' command"


def unsupported_option(option: bytes) -> str:
    """EXPIRE's reply to an option it does not know, quoted as sent."""
    return f"ERR Unsupported option {_text(option)}"


def value_out_of_range(low: int, high: int) -> str:
    """Redis's getRangeLongFromObjectOrReply (an int argument such as COPY's DB)."""
    return f"ERR value is out of range, value must between {low} and {high}"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
