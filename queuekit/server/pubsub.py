"""Publish/subscribe: channels and patterns, and who listens to each.

Messages are delivered in the publisher's command, to every subscriber's
output at once (RESP2 arrays, RESP3 pushes); nothing is stored, so a client
that is not subscribed at that moment never sees the message, as on Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuekit.engine.glob import glob_match
from queuekit.engine.replies import Push

if TYPE_CHECKING:
    from queuekit.server.connection import Connection


class PubSub:
    def __init__(self) -> None:
        self.channels: dict[bytes, set[Connection]] = {}
        self.patterns: dict[bytes, set[Connection]] = {}

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel and pattern subscribers; the number of receivers."""
        receivers = 0
        for client in self.channels.get(channel, ()):
            client.push(Push([b"message", channel, message]))
            receivers += 1
        for pattern, clients in self.patterns.items():
            if glob_match(pattern, channel):
                for client in clients:
                    client.push(Push([b"pmessage", pattern, channel, message]))
                    receivers += 1
        return receivers

    def subscribe(self, client: Connection, channel: bytes, *, pattern: bool) -> bool:
        """Add a subscription; False if the client already had it."""
        mine = client.patterns if pattern else client.channels
        if channel in mine:
            return False
        mine.add(channel)
        (self.patterns if pattern else self.channels).setdefault(channel, set()).add(client)
        return True

    def unsubscribe(self, client: Connection, channel: bytes, *, pattern: bool) -> bool:
        """Drop a subscription; False if the client did not have it."""
        mine = client.patterns if pattern else client.channels
        if channel not in mine:
            return False
        mine.discard(channel)
        table = self.patterns if pattern else self.channels
        listeners = table.get(channel)
        if listeners is not None:
            listeners.discard(client)
            if not listeners:
                del table[channel]
        return True

    def forget(self, client: Connection) -> None:
        for channel in list(client.channels):
            self.unsubscribe(client, channel, pattern=False)
        for pattern in list(client.patterns):
            self.unsubscribe(client, pattern, pattern=True)
