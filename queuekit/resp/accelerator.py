"""hiredis as an optional accelerator for request parsing, and why it stays exact.

hiredis (redis-py's C parser; `pip install queuekit[fast]`) cuts a pipelined
read into commands 4-5x faster than the pure-Python fast path. But it reads
*replies*: it accepts frames that Redis's request parser refuses or reads
otherwise ("*1\\r\\n+PING\\r\\n" gives ["PING"] where Redis answers
"expected '$', got '+'"), and its errors are not Redis's wording. So
`WholeReads.split` hands over hiredis's commands only where they provably
equal the exact parser's, and says None, for the pure-Python parser to
decide, everywhere else. Its rules:

1. Only a whole read is tried: from a command boundary to the end of the
   buffer, with nothing pending before it. The caller checks that the read
   is no longer than any limit (bulk length, multibulk count, header line),
   so no limit can apply inside it; and that the client is authenticated.
2. The read holds none of the type bytes + ( = ~ > | % ! ;. Of hiredis's
   types, only these give bytes (simple string, big number, verbatim) or a
   list or dict (set, push, attribute, map) where a request has '$' or
   '*'; '!' and ';' are excluded too, for hiredis versions that may read
   RESP3 blob errors and streamed strings one day. Payloads holding one of
   these bytes are simply parsed in Python.
3. hiredis reads the whole of it, without an error, and every reply is a
   non-empty list of bytes. By rule 2 each is then a '*' array of '$' bulks,
   with counts and lengths in the strict decimal form that hiredis's
   string2ll shares with Redis's ("*03", "$+3", "$ 3" fail), headers ending
   in CRLF, and the two bytes after each bulk's data skipped unchecked, as
   Redis skips them: Redis's parser reads exactly these commands.

Anything else (an error, a partial last command, an empty "*0") sends the
whole read to the pure-Python parser, which is always right; a Reader that
may hold part of a command is dropped and the next read starts a fresh one.
"""

from __future__ import annotations

try:
    from hiredis import HiredisError, Reader

    Reader(notEnoughData=None)  # a hiredis too old for this option raises TypeError
    AVAILABLE = True
except (ImportError, TypeError):  # no usable hiredis (the `fast` extra): pure Python it is
    AVAILABLE = False

# Rule 2: the RESP3 type bytes that hiredis could read as something a request is not.
_LOOKALIKE_TYPES = b"+(=~>|%!;"
# hiredis returns this, not False, when it has no whole reply: False is a reply (#f).
_NO_REPLY = object()
# RESP3's null. Between replies hiredis reads it as None; after a command read
# in part it becomes part of that command, or an error, never a None reply.
_PROBE = b"_\r\n"


class WholeReads:
    """Splits whole reads into commands with hiredis, or declines (see the module rules)."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        # Only built when AVAILABLE. One Reader serves read after read while
        # each ends on a command boundary (making one costs as much as parsing
        # a short command).
        self._reader: Reader | None = None

    def split(self, data: bytes) -> list[list[bytes]] | None:
        """The commands in `data`, a whole read; None to leave it all to the exact parser."""
        # Rule 2, in one pass at C speed: nothing deleted, nothing looked alike.
        if len(data.translate(None, _LOOKALIKE_TYPES)) != len(data):
            return None
        reader = self._reader
        if reader is None:
            reader = self._reader = Reader(notEnoughData=_NO_REPLY)
        try:
            reader.feed(data)
            commands: list[list[bytes]] = list(iter(reader.gets, _NO_REPLY))
            # Did the read end between two replies? hiredis does not say (its
            # has_data() is False too after the header of an array whose
            # elements are still to come), but the probe does.
            reader.feed(_PROBE)
            between_replies = reader.gets() is None and not reader.has_data()
        except HiredisError:
            between_replies = False
        if not between_replies:
            self._reader = None  # it holds a partial command, or it is broken
            return None
        # Rule 3, one command at a time (cheaper than one call over them all):
        # an empty one is "*0", which Redis skips, or None, or a "$0" bulk;
        # b"".join refuses the rest: a lone bulk (it iterates as ints), an
        # int, an error, and any argument of a command that is not bytes.
        try:
            for command in commands:
                if not command:
                    return None
                b"".join(command)
        except TypeError:
            return None
        return commands
