"""One table of reply values, their exact RESP2 and RESP3 bytes, and what they parse back to.

test_encoder.py encodes each value and compares the bytes; test_replies.py
parses the bytes back with ReplyParser. The bytes are Redis 7.0.15's, as it
writes the same replies (ZSCORE, HGETALL, SMEMBERS, BLPOP's timeout, ZRANGE
WITHSCORES, INFO...): doubles "%.17g", a bulk string in RESP2 and ',' in
RESP3; maps flattened and sets as arrays in RESP2; null bulk "$-1" and null
array "*-1" in RESP2, both "_" in RESP3.

`typed` turns a value into a structure that compares types as well as
values (Status is not bytes, True is not 1, -0.0 is not 0.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, OK, Pairs, Push, Status, Verbatim

_SAME: Any = object()


@dataclass(frozen=True)
class ReplyCase:
    name: str
    value: Any
    resp2: bytes
    resp3: bytes
    # What ReplyParser makes of resp2 and resp3; by default the value itself.
    back2: Any = _SAME
    back3: Any = _SAME

    def back(self, resp: int) -> Any:
        back = self.back2 if resp == 2 else self.back3
        return self.value if back is _SAME else back

    def wire(self, resp: int) -> bytes:
        return self.resp2 if resp == 2 else self.resp3


def same(name: str, value: Any, data: bytes, back: Any = _SAME) -> ReplyCase:
    """A value written alike in RESP2 and RESP3."""
    return ReplyCase(name, value, data, data, back, back)


INFO = b"# Server\r\nredis_version:7.0.15\r\n"

REPLY_CASES = [
    same("status OK", OK, b"+OK\r\n"),
    same("status empty", Status(b""), b"+\r\n"),
    same("integer zero", 0, b":0\r\n"),
    same("integer negative", -42, b":-42\r\n"),
    same("integer int64 max", 2**63 - 1, b":9223372036854775807\r\n"),
    same("integer int64 min", -(2**63), b":-9223372036854775808\r\n"),
    same("bulk", b"hello", b"$5\r\nhello\r\n"),
    same("bulk empty", b"", b"$0\r\n\r\n"),
    same("bulk binary", b"\r\n\0\xff$1\r\n", b"$8\r\n\r\n\0\xff$1\r\n\r\n"),
    ReplyCase("null", None, b"$-1\r\n", b"_\r\n"),
    ReplyCase("null array", NULL_ARRAY, b"*-1\r\n", b"_\r\n", NULL_ARRAY, None),
    same("array empty", [], b"*0\r\n"),
    ReplyCase(
        "array of scalars",
        [b"a", 1, None, OK],
        b"*4\r\n$1\r\na\r\n:1\r\n$-1\r\n+OK\r\n",
        b"*4\r\n$1\r\na\r\n:1\r\n_\r\n+OK\r\n",
    ),
    ReplyCase(
        "array nested",
        [[b"a", [1, []]], NULL_ARRAY],
        b"*2\r\n*2\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n*-1\r\n",
        b"*2\r\n*2\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n_\r\n",
        [[b"a", [1, []]], NULL_ARRAY],
        [[b"a", [1, []]], None],
    ),
    same("array from a tuple", (b"x", 2), b"*2\r\n$1\r\nx\r\n:2\r\n", [b"x", 2]),
    ReplyCase(
        "map",
        {b"f": b"v", b"n": 1},
        b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nn\r\n:1\r\n",
        b"%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nn\r\n:1\r\n",
        [b"f", b"v", b"n", 1],
    ),
    ReplyCase("map empty", {}, b"*0\r\n", b"%0\r\n", []),
    ReplyCase(
        "map nested",
        {b"k": {b"inner": [1, 2]}, b"s": {b"m"}},
        b"*4\r\n$1\r\nk\r\n*2\r\n$5\r\ninner\r\n*2\r\n:1\r\n:2\r\n$1\r\ns\r\n*1\r\n$1\r\nm\r\n",
        b"%2\r\n$1\r\nk\r\n%1\r\n$5\r\ninner\r\n*2\r\n:1\r\n:2\r\n$1\r\ns\r\n~1\r\n$1\r\nm\r\n",
        [b"k", [b"inner", [1, 2]], b"s", [b"m"]],
    ),
    ReplyCase("set", {b"m"}, b"*1\r\n$1\r\nm\r\n", b"~1\r\n$1\r\nm\r\n", [b"m"]),
    # Small ints hash to themselves: this set iterates in this order.
    ReplyCase(
        "set of integers",
        {1, 2, 3},
        b"*3\r\n:1\r\n:2\r\n:3\r\n",
        b"~3\r\n:1\r\n:2\r\n:3\r\n",
        [1, 2, 3],
    ),
    ReplyCase("set empty frozen", frozenset(), b"*0\r\n", b"~0\r\n", [], set()),
    ReplyCase("double", 1.5, b"$3\r\n1.5\r\n", b",1.5\r\n", b"1.5"),
    ReplyCase("double integral", 3.0, b"$1\r\n3\r\n", b",3\r\n", b"3"),
    ReplyCase(
        "double 0.1",
        0.1,
        b"$19\r\n0.10000000000000001\r\n",
        b",0.10000000000000001\r\n",
        b"0.10000000000000001",
    ),
    ReplyCase(
        "double 1e300",
        1e300,
        b"$23\r\n1.0000000000000001e+300\r\n",
        b",1.0000000000000001e+300\r\n",
        b"1.0000000000000001e+300",
    ),
    ReplyCase("double 1e17", 1e17, b"$5\r\n1e+17\r\n", b",1e+17\r\n", b"1e+17"),
    ReplyCase("double inf", float("inf"), b"$3\r\ninf\r\n", b",inf\r\n", b"inf"),
    ReplyCase("double -inf", float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n", b"-inf"),
    ReplyCase("double -0.0", -0.0, b"$2\r\n-0\r\n", b",-0\r\n", b"-0"),
    ReplyCase("boolean true", True, b":1\r\n", b"#t\r\n", 1),
    ReplyCase("boolean false", False, b":0\r\n", b"#f\r\n", 0),
    same("error", CommandError("ERR bad thing"), b"-ERR bad thing\r\n"),
    same(
        "error with CR and LF",
        CommandError("ERR unknown command 'a\r\nb'"),
        b"-ERR unknown command 'a  b'\r\n",
        CommandError("ERR unknown command 'a  b'"),
    ),
    same(
        "array with an error (EXEC)",
        [OK, CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")],
        b"*2\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    ),
    ReplyCase(
        "push",
        Push([b"message", b"ch", b"hi"]),
        b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        [b"message", b"ch", b"hi"],
    ),
    ReplyCase(
        "verbatim",
        Verbatim(INFO),
        b"$%d\r\n%s\r\n" % (len(INFO), INFO),
        b"=%d\r\ntxt:%s\r\n" % (len(INFO) + 4, INFO),
        INFO,
        INFO,
    ),
    ReplyCase(
        "pairs",
        Pairs([[b"a", 1.5], [b"b", 2.0]]),
        b"*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n",
        b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n",
        [b"a", b"1.5", b"b", b"2"],
        [[b"a", 1.5], [b"b", 2.0]],
    ),
    ReplyCase("pairs empty", Pairs(), b"*0\r\n", b"*0\r\n", [], []),
]


def typed(value: Any) -> Any:
    """`value` as nested (type, content) pairs, for comparisons that see types."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, CommandError):
        return ("error", value.message)
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, set | frozenset):
        return ("set", sorted(repr(typed(item)) for item in value))
    return (type(value).__name__, value)
