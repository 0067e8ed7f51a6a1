"""The request table: bytes in, and the commands, error and rest expected out.

Every expectation is Redis 7.0.15's: test_requests.py's `test_redis_agrees`
sends each case to a real redis-server and checks that it answers the bytes
as it answers the expected commands written canonically, then the expected
error, and hangs up. Cases it cannot check say why in `not_redis`.
"""

from __future__ import annotations

from dataclasses import dataclass

from queuekit.resp import errors
from queuekit.resp.limits import Limits
from tests.support import wire

KIB64 = 64 * 1024  # Redis's PROTO_INLINE_MAX_SIZE
DEFAULT = Limits()
SMALL = Limits(max_bulk_length=8, max_multibulk_length=4, max_inline_length=16)
PING = b"*1\r\n$4\r\nPING\r\n"
MB = errors.INVALID_MULTIBULK_LENGTH
BULK = errors.INVALID_BULK_LENGTH


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    # The commands parsed, before the error if there is one.
    commands: list[list[bytes]]
    error: str | None = None
    # Bytes left buffered at the end: an incomplete command.
    rest: int = 0
    limits: Limits = DEFAULT
    authenticated: bool = True
    # Why the test against real Redis leaves the case out; None: it agrees.
    not_redis: str | None = None


def mb(*args: bytes) -> bytes:
    """A multibulk command, written by the test suite's own naive encoder."""
    return wire.encode_command(list(args))


def ok(
    name: str,
    data: bytes,
    *commands: list[bytes],
    limits: Limits = DEFAULT,
    authenticated: bool = True,
    not_redis: str | None = None,
) -> Case:
    """A case whose bytes are all parsed into `commands`."""
    return Case(name, data, list(commands), None, 0, limits, authenticated, not_redis)


def bad(
    name: str,
    data: bytes,
    error: str,
    *commands: list[bytes],
    limits: Limits = DEFAULT,
    authenticated: bool = True,
    not_redis: str | None = None,
) -> Case:
    """A case that fails with `error` after `commands`."""
    return Case(name, data, list(commands), error, 0, limits, authenticated, not_redis)


def waits(
    name: str,
    data: bytes,
    *commands: list[bytes],
    rest: int = -1,
    limits: Limits = DEFAULT,
    authenticated: bool = True,
    not_redis: str | None = None,
) -> Case:
    """A case ending in an incomplete command: `rest` bytes (by default all) stay buffered."""
    rest = len(data) if rest < 0 else rest
    return Case(name, data, list(commands), None, rest, limits, authenticated, not_redis)


# Redis reads 16 KB at a time and checks the 64 KiB line limit after each read,
# so a line end just past the limit passes when it arrives with the same read.
SPLIT_READS = "Redis passes a line ending just past 64 KiB when it comes in one read"
BIG_ALLOCATION = "Redis reserves the 512 MB for the bulk before it arrives"

CASES = [
    # -- multibulk -------------------------------------------------------------
    ok("multibulk one argument", PING, [b"PING"]),
    ok(
        "multibulk many arguments",
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n$2\r\nEX\r\n$2\r\n10\r\n",
        [b"SET", b"k", b"value", b"EX", b"10"],
    ),
    ok("multibulk pipeline", PING + mb(b"GET", b"k") + PING, [b"PING"], [b"GET", b"k"], [b"PING"]),
    ok("multibulk empty bulk", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [b"SET", b"k", b""]),
    ok("multibulk only an empty bulk", b"*1\r\n$0\r\n\r\n", [b""]),
    ok(
        "multibulk binary bulk with CRLF and NUL",
        mb(b"SET", b"k\0", b"a\r\nb\0c\r\n*1\r\n$4\r\n"),
        [b"SET", b"k\0", b"a\r\nb\0c\r\n*1\r\n$4\r\n"],
    ),
    ok("multibulk bulk of CRLFs", mb(b"ECHO", b"\r\n" * 10), [b"ECHO", b"\r\n" * 10]),
    ok("multibulk *0 is skipped", b"*0\r\n" + PING, [b"PING"]),
    ok("multibulk *-1 is skipped", b"*-1\r\n" + PING, [b"PING"]),
    ok("multibulk *-5 is skipped", b"*-5\r\n" + PING, [b"PING"]),
    ok("multibulk int64 min count is skipped", b"*-9223372036854775808\r\n" + PING, [b"PING"]),
    bad("multibulk count below int64", b"*-9223372036854775809\r\n" + PING, MB),
    bad("multibulk 21-character count", b"*-99999999999999999999\r\n" + PING, MB),
    bad("multibulk count above INT_MAX", b"*2147483648\r\n", MB),
    waits("multibulk count of INT_MAX waits", b"*2147483647\r\n"),
    bad("multibulk count of 5000 digits", b"*" + b"1" * 5000 + b"\r\n", MB),
    *(
        bad(f"multibulk non-canonical count {count!r}", b"*" + count + b"\r\n$4\r\nPING\r\n", MB)
        for count in [b"01", b"03", b"+1", b" 1", b"1 ", b"", b"-0", b"-", b"1x", b"0x1", b"1.0"]
    ),
    ok("multibulk count line ends at CR and any byte", b"*1\rX$4\r\nPING\r\n", [b"PING"]),
    ok("multibulk bulk line ends at CR and any byte", b"*1\r\n$4\rXPING\r\n", [b"PING"]),
    *(
        bad(
            f"multibulk non-canonical length {length!r}", b"*1\r\n$" + length + b"\r\nabc\r\n", BULK
        )
        for length in [b"03", b"+3", b" 3", b"3 ", b"-1", b"-0", b"", b"abc", b"1e3", b"3\t"]
    ),
    ok("multibulk bulk longer than declared", b"*1\r\n$3\r\nabcde\r\n", [b"abc"]),
    ok(
        "multibulk two bytes after a bulk are skipped unchecked",
        b"*1\r\n$3\r\nabcXY" + PING,
        [b"abc"],
        [b"PING"],
    ),
    ok(
        "multibulk bulk shorter than declared takes the next bytes",
        b"*2\r\n$5\r\nabc\r\n\r\n$1\r\nx\r\n",
        [b"abc\r\n", b"x"],
    ),
    waits("multibulk bulk data incomplete", b"*2\r\n$3\r\nGET\r\n$5\r\nab"),
    waits("multibulk final LF missing", b"*1\r\n$4\r\nPING\r"),
    waits("multibulk count line CR without the next byte", b"*1\r"),
    waits("multibulk between bulks", b"*2\r\n$3\r\nGET\r\n"),
    bad("multibulk expected $ got x", b"*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"),
    bad(
        "multibulk expected $ got :",
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        "Protocol error: expected '$', got ':'",
    ),
    bad("multibulk expected $ got *", b"*1\r\n*1\r\n", "Protocol error: expected '$', got '*'"),
    bad("multibulk expected $ got CR", b"*1\r\n\r\n", "Protocol error: expected '$', got ' '"),
    bad("multibulk expected $ got LF", b"*1\r\n\n\r\n", "Protocol error: expected '$', got ' '"),
    bad(
        "multibulk commands before an error are returned",
        PING + PING + b"*1\r\nx\r\n" + PING,
        "Protocol error: expected '$', got 'x'",
        [b"PING"],
        [b"PING"],
    ),
    bad("multibulk error in a later bulk", b"*2\r\n$1\r\na\r\n$x\r\n", BULK),
    bad("multibulk bulk above proto-max-bulk-len", b"*1\r\n$536870913\r\n", BULK),
    waits(
        "multibulk bulk of proto-max-bulk-len waits",
        b"*1\r\n$536870912\r\n",
        not_redis=BIG_ALLOCATION,
    ),
    bad("multibulk bulk of int64 max", b"*1\r\n$9223372036854775807\r\n", BULK),
    bad("multibulk bulk above int64", b"*1\r\n$9223372036854775808\r\n", BULK),
    # -- small limits (Redis cannot be configured this small) -----------------
    ok("limits bulk at the limit", b"*1\r\n$8\r\n12345678\r\n", [b"12345678"], limits=SMALL),
    bad("limits bulk above the limit", b"*1\r\n$9\r\n", BULK, limits=SMALL),
    waits("limits count at the limit waits", b"*4\r\n", limits=SMALL),
    bad("limits count above the limit", b"*5\r\n", MB, limits=SMALL),
    ok("limits inline at the limit", b"x" * 15 + b"\r\n", [b"x" * 15], limits=SMALL),
    ok("limits inline LF at the limit", b"x" * 16 + b"\n", [b"x" * 16], limits=SMALL),
    bad("limits inline over the limit", b"x" * 17, errors.TOO_BIG_INLINE, limits=SMALL),
    waits("limits count line at the limit", b"*" + b"1" * 15, limits=SMALL),
    bad("limits count line CR at the limit", b"*" + b"1" * 15 + b"\r\n", MB, limits=SMALL),
    bad("limits count line over", b"*" + b"1" * 16, errors.TOO_BIG_MBULK_COUNT, limits=SMALL),
    bad("limits bulk line over", b"*1\r\n$" + b"1" * 16, errors.TOO_BIG_BULK_COUNT, limits=SMALL),
    # -- header lines and the 64 KiB limit -------------------------------------
    waits("header count line of 64 KiB waits", b"*" + b"1" * (KIB64 - 1), rest=KIB64),
    bad("header count line over 64 KiB", b"*" + b"1" * KIB64, errors.TOO_BIG_MBULK_COUNT),
    bad("header count line CR at 64 KiB", b"*" + b"1" * (KIB64 - 1) + b"\r\n", MB),
    bad(
        "header count line CR past 64 KiB",
        b"*" + b"1" * KIB64 + b"\r\n",
        errors.TOO_BIG_MBULK_COUNT,
        not_redis=SPLIT_READS,
    ),
    bad("header bulk line over 64 KiB", b"*1\r\n$" + b"1" * KIB64, errors.TOO_BIG_BULK_COUNT),
    waits("header NUL in the count line", b"*1\0\r\n" + PING),
    bad(
        "header NUL count line over 64 KiB", b"*1\0\r\n" + b"x" * KIB64, errors.TOO_BIG_MBULK_COUNT
    ),
    waits("header NUL in a bulk line", b"*1\r\n$3\0\r\nabc\r\n"),
    waits("header NUL opening a bulk line", b"*1\r\n\0$3\r\nabc\r\n"),
    bad(
        "header NUL bulk line over 64 KiB",
        b"*1\r\n$3\0\r\n" + b"x" * KIB64,
        errors.TOO_BIG_BULK_COUNT,
    ),
    # -- inline ----------------------------------------------------------------
    ok("inline one word", b"PING\r\n", [b"PING"]),
    ok("inline LF only", b"PING\n", [b"PING"]),
    ok("inline spaces and tabs", b"  SET  k \t v  \r\n", [b"SET", b"k", b"v"]),
    ok("inline empty lines are skipped", b"\r\n\n  \r\n\t\nPING\r\n", [b"PING"]),
    ok("inline CR inside a line splits", b"a\rb\n", [b"a", b"b"]),
    ok("inline CR CR LF", b"PING\r\r\n", [b"PING"]),
    ok("inline double quotes", b'SET "a b" c\r\n', [b"SET", b"a b", b"c"]),
    ok("inline single quotes", b"SET 'a b' 'it\\'s'\r\n", [b"SET", b"a b", b"it's"]),
    ok(
        "inline escapes",
        b'ECHO "\\n\\r\\t\\b\\a\\z\\\\\\"" \'\\n\'\r\n',
        [b"ECHO", b'\n\r\t\x08\x07z\\"', b"\\n"],
    ),
    ok(
        "inline hex escapes",
        b'ECHO "\\x41\\x4a\\x4G\\x4" "\\x" "\\xzz"\r\n',
        [b"ECHO", b"AJx4Gx4", b"x", b"xzz"],
    ),
    ok("inline binary in quotes", b'ECHO "\xff\x01"\r\n', [b"ECHO", b"\xff\x01"]),
    ok("inline empty quotes", b"ECHO \"\" ''\r\n", [b"ECHO", b"", b""]),
    ok("inline quotes inside a word", b"ECHO ab\"cd\" e'f g'\r\n", [b"ECHO", b"abcd", b"ef g"]),
    ok("inline closing quote then VT", b'ECHO "a"\x0bb\r\n', [b"ECHO", b"a", b"b"]),
    ok("inline VT and FF inside a word", b"ECHO a\x0bb\x0cc\r\n", [b"ECHO", b"a\x0bb\x0cc"]),
    ok("inline VT and FF between words", b"ECHO \x0b a \x0c\r\n", [b"ECHO", b"a"]),
    bad("inline unbalanced double quote", b'ECHO "abc\r\n', errors.UNBALANCED_QUOTES),
    bad("inline unbalanced single quote", b"ECHO 'abc\r\n", errors.UNBALANCED_QUOTES),
    bad("inline closing quote glued to a word", b'ECHO "a"b\r\n', errors.UNBALANCED_QUOTES),
    bad("inline escaped closing quote", b'ECHO "a\\"\r\n', errors.UNBALANCED_QUOTES),
    bad("inline backslash before the end", b"ECHO '\\'\r\n", errors.UNBALANCED_QUOTES),
    bad(
        "inline commands before unbalanced quotes",
        b"PING\r\nECHO 'x\r\nPING\r\n",
        errors.UNBALANCED_QUOTES,
        [b"PING"],
    ),
    waits("inline line without LF waits", b"PING"),
    waits("inline NUL never ends a line", b"ECHO a\0b\r\n" + PING),
    bad("inline NUL line over 64 KiB", b"ECHO a\0b\r\n" + b"x" * KIB64, errors.TOO_BIG_INLINE),
    ok("inline line of 64 KiB", b"x" * (KIB64 - 1) + b"\r\n", [b"x" * (KIB64 - 1)]),
    waits("inline 64 KiB without LF waits", b"x" * KIB64, rest=KIB64),
    bad("inline over 64 KiB without LF", b"x" * (KIB64 + 1), errors.TOO_BIG_INLINE),
    bad(
        "inline LF past 64 KiB",
        b"x" * KIB64 + b"\r\n",
        errors.TOO_BIG_INLINE,
        not_redis=SPLIT_READS,
    ),
    ok("inline starting with $", b"$3\r\n", [b"$3"]),
    ok("inline space then *", b" *1\r\n", [b"*1"]),
    # -- inline and multibulk mixed ---------------------------------------------
    ok(
        "mixed inline and multibulk",
        b"PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\nECHO b\n" + PING + b"\r\n",
        [b"PING"],
        [b"ECHO", b"a"],
        [b"ECHO", b"b"],
        [b"PING"],
    ),
    ok(
        "mixed canonical frames around an exact one",
        PING + b"*1\r\n$3\r\nabcde\r\n" + PING,
        [b"PING"],
        [b"abc"],
        [b"PING"],
    ),
    # -- before AUTH -----------------------------------------------------------
    ok("unauth small command", mb(b"GET", b"k"), [b"GET", b"k"], authenticated=False),
    ok("unauth ten arguments", mb(b"GET", *[b"k"] * 9), [b"GET", *[b"k"] * 9], authenticated=False),
    bad(
        "unauth eleven arguments",
        b"*11\r\n",
        errors.UNAUTHENTICATED_MULTIBULK_LENGTH,
        authenticated=False,
    ),
    ok(
        "unauth bulk of 16384",
        mb(b"GET", b"x" * 16384),
        [b"GET", b"x" * 16384],
        authenticated=False,
    ),
    bad(
        "unauth bulk of 16385",
        b"*2\r\n$3\r\nGET\r\n$16385\r\n",
        errors.UNAUTHENTICATED_BULK_LENGTH,
        authenticated=False,
    ),
    bad("unauth bulk above proto-max-bulk-len", b"*1\r\n$536870913\r\n", BULK, authenticated=False),
    bad("unauth 20-digit bulk", b"*1\r\n$99999999999999999999\r\n", BULK, authenticated=False),
    bad("unauth negative bulk", b"*1\r\n$-1\r\n", BULK, authenticated=False),
    bad("unauth count above INT_MAX", b"*2147483648\r\n", MB, authenticated=False),
    bad("unauth non-canonical count", b"*011\r\n", MB, authenticated=False),
    ok("unauth negative count", b"*-1\r\n" + mb(b"GET", b"k"), [b"GET", b"k"], authenticated=False),
    ok("unauth inline", b"GET k\r\n", [b"GET", b"k"], authenticated=False),
    # -- beyond the fast path's tables -----------------------------------------
    ok("large bulk of 4095", mb(b"SET", b"k", b"x" * 4095), [b"SET", b"k", b"x" * 4095]),
    ok("large bulk of 4096", mb(b"SET", b"k", b"x" * 4096), [b"SET", b"k", b"x" * 4096]),
    ok(
        "large bulk of 100000 with CRLFs",
        mb(b"SET", b"k", b"ab\r\n" * 25000) + PING,
        [b"SET", b"k", b"ab\r\n" * 25000],
        [b"PING"],
    ),
    ok(
        "large 1024 arguments",
        mb(b"RPUSH", *[b"%d" % i for i in range(1023)]),
        [b"RPUSH", *[b"%d" % i for i in range(1023)]],
    ),
    ok(
        "large 1025 arguments",
        mb(b"RPUSH", *[b"%d" % i for i in range(1024)]),
        [b"RPUSH", *[b"%d" % i for i in range(1024)]],
    ),
    ok(
        "large 3000 arguments then PING",
        mb(b"RPUSH", b"l", *[b"v"] * 2998) + PING,
        [b"RPUSH", b"l", *[b"v"] * 2998],
        [b"PING"],
    ),
    ok(
        "large canonical, big and canonical again",
        mb(b"SET", b"a", b"1") + mb(b"SET", b"b", b"y" * 5000) + mb(b"SET", b"c", b"3"),
        [b"SET", b"a", b"1"],
        [b"SET", b"b", b"y" * 5000],
        [b"SET", b"c", b"3"],
    ),
    # -- RESP3 lookalikes: what a reply parser (hiredis) reads as commands -----
    *(
        bad(
            f"lookalike {kind} element",
            b"*2\r\n$4\r\nECHO\r\n" + item,
            f"Protocol error: expected '$', got '{item[:1].decode()}'",
        )
        for kind, item in [
            ("simple string", b"+abc\r\n"),
            ("big number", b"(12\r\n"),
            ("verbatim", b"=7\r\ntxt:abc\r\n"),
            ("null", b"_\r\n"),
            ("boolean", b"#t\r\n"),
            ("double", b",1.5\r\n"),
            ("error", b"-ERR x\r\n"),
            ("map", b"%1\r\n$1\r\na\r\n$1\r\nb\r\n"),
            ("set", b"~1\r\n$1\r\na\r\n"),
            ("push", b">1\r\n$1\r\na\r\n"),
            ("attribute", b"|1\r\n$1\r\na\r\n$1\r\nb\r\n"),
        ]
    ),
    ok("lookalike simple string is inline", b"+PING\r\n", [b"+PING"]),
    ok("lookalike empty bulk is inline", b"$0\r\n\r\n", [b"$0"]),
    ok("lookalike bulk is inline", b"$4\r\nPING\r\n", [b"$4"], [b"PING"]),
    ok("lookalike set is inline", b"~1\r\n$4\r\nPING\r\n", [b"~1"], [b"$4"], [b"PING"]),
    ok("lookalike push is inline", b">1\r\n$4\r\nPING\r\n", [b">1"], [b"$4"], [b"PING"]),
    ok(
        "lookalike attribute is inline",
        b"|1\r\n$1\r\na\r\n$1\r\nb\r\n",
        [b"|1"],
        [b"$1"],
        [b"a"],
        [b"$1"],
        [b"b"],
    ),
    ok(
        "lookalike map is inline",
        b"%1\r\n$1\r\na\r\n$1\r\nb\r\n",
        [b"%1"],
        [b"$1"],
        [b"a"],
        [b"$1"],
        [b"b"],
    ),
    ok("lookalike boolean false after a command", PING + b"#f\r\n", [b"PING"], [b"#f"]),
    ok("lookalike integer zero before a command", b":0\r\n" + PING, [b":0"], [b"PING"]),
    ok("lookalike null after a command", PING + b"_\r\n", [b"PING"], [b"_"]),
]

# A command that has begun, and an inline one: what may follow a complete case.
TRAILERS = [b"*2\r\n$3\r\nGET\r\n$1\r\n", b"GET ke"]
