"""Protocol errors, split the h11 way.

    ProtocolError               the byte stream is not RESP
    └── RemoteProtocolError     the peer sent it (the server answers and hangs up)

`message` is Redis's own wording ("Protocol error: invalid bulk length"),
ready to be sent back as an error reply.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Raised when bytes cannot be parsed as RESP; the connection cannot go on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RemoteProtocolError(ProtocolError):
    """Raised when the peer sent bytes that break the protocol or one of its limits."""


INVALID_MULTIBULK_LENGTH = "Protocol error: invalid multibulk length"
INVALID_BULK_LENGTH = "Protocol error: invalid bulk length"
TOO_BIG_INLINE = "Protocol error: too big inline request"
TOO_BIG_MBULK_COUNT = "Protocol error: too big mbulk count string"
TOO_BIG_BULK_COUNT = "Protocol error: too big bulk count string"
UNBALANCED_QUOTES = "Protocol error: unbalanced quotes in request"
UNAUTHENTICATED_MULTIBULK_LENGTH = "Protocol error: unauthenticated multibulk length"
UNAUTHENTICATED_BULK_LENGTH = "Protocol error: unauthenticated bulk length"


def expected_dollar(got: int) -> str:
    """Redis's "expected '$', got '%c'", with the byte as a Latin-1 character.

    Like addReplyErrorFormat, it turns a CR or LF into a space, so that the
    error reply stays one line.
    """
    char = " " if got in (0x0D, 0x0A) else chr(got)
    return f"Protocol error: expected '$', got '{char}'"
