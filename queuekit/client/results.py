"""Turning the replies of a pipeline or transaction into what callers get.

Shared by the in-process, network and cluster pipelines, so all report errors,
aborted transactions and watch failures the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Reply
from queuekit.errors import WatchError, response_error


def command_result(reply: Reply) -> Any:
    """One command's reply as a client hands it out: an error reply raises, the
    null array is None."""
    if isinstance(reply, CommandError):
        raise response_error(reply.message)
    return None if reply is NULL_ARRAY else reply


def pipeline_results(replies: Sequence[Reply], *, raise_on_error: bool) -> list[Any]:
    """Replies in order; an error reply raises, or stands in place as an exception."""
    results: list[Any] = []
    for reply in replies:
        if isinstance(reply, CommandError):
            error = response_error(reply.message)
            if raise_on_error:
                raise error
            results.append(error)
        else:
            results.append(None if reply is NULL_ARRAY else reply)
    return results


def transaction_replies(
    commands: Sequence[Sequence[bytes]], queue_replies: Sequence[Reply], exec_reply: Reply
) -> list[Reply]:
    """EXEC's array, or the reason there is none.

    `queue_replies` are the answers to each queued command (QUEUED or an
    error): when EXEC answers EXECABORT, the error names the first command
    that was refused and why, which EXECABORT alone does not say.
    """
    if isinstance(exec_reply, CommandError):
        refused = [
            (index, reply)
            for index, reply in enumerate(queue_replies)
            if isinstance(reply, CommandError)
        ]
        if refused:
            index, reason = refused[0]
            raise response_error(
                f"{exec_reply.message} Command #{index + 1} "
                f"({commands[index][0].decode(errors='replace')}) was refused: {reason.message}"
            )
        raise response_error(exec_reply.message)
    if exec_reply is NULL_ARRAY or exec_reply is None:
        raise WatchError("a watched key changed before EXEC; nothing ran")
    return list(exec_reply)
