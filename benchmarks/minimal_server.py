"""The ceiling for a Python RESP server here: the least server redis-benchmark accepts.

An asyncio Protocol with hiredis parsing, a dict and a deque per key, and
just the six commands of server_vs_redis.py (plus the CONFIG GET that
redis-benchmark sends first). No limits, no errors worth the name, no
persistence, no clients list: nothing a real server needs. It is the
"150-line asyncio Protocol server" that the server issue measured before
queuekit existed, kept here so server_vs_redis.py can show how much of the
gap to redis-server is Python's and how much is queuekit's.

    python benchmarks/minimal_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import hiredis

OK = b"+OK\r\n"
NIL = b"$-1\r\n"


class Minimal(asyncio.Protocol):
    data: dict[bytes, object] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.reader = hiredis.Reader()

    def data_received(self, chunk: bytes) -> None:
        self.reader.feed(chunk)
        out = []
        data = self.data
        while (argv := self.reader.gets()) is not False:
            name = argv[0].upper()
            if name == b"SET":
                data[argv[1]] = argv[2]
                out.append(OK)
            elif name == b"GET":
                value = data.get(argv[1])
                out.append(NIL if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
            elif name == b"INCR":
                value = int(data.get(argv[1], 0)) + 1
                data[argv[1]] = value
                out.append(b":%d\r\n" % value)
            elif name in (b"LPUSH", b"RPUSH"):
                items = data.setdefault(argv[1], deque())
                (items.appendleft if name == b"LPUSH" else items.append)(argv[2])
                out.append(b":%d\r\n" % len(items))
            elif name in (b"LPOP", b"RPOP"):
                items = data.get(argv[1])
                value = (items.popleft() if name == b"LPOP" else items.pop()) if items else None
                out.append(NIL if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
            elif name == b"SADD":
                members = data.setdefault(argv[1], set())
                before = len(members)
                members.add(argv[2])
                out.append(b":%d\r\n" % (len(members) - before))
            elif name == b"PING":
                out.append(b"+PONG\r\n")
            elif name == b"CONFIG":
                out.append(b"*0\r\n")
            else:
                out.append(b"-ERR unknown command\r\n")
        self.transport.write(b"".join(out))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Minimal, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
