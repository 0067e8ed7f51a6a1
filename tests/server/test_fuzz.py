"""A bounded, seeded fuzz of the server's front: mutated frames over real sockets.

100,000 frames, each a command from a small corpus with a random byte flip,
truncation or insertion (in its wire bytes, or in one argument), go out in
batches over a handful of connections; a connection the server closes (a
protocol error) is replaced, and each connection is retired after a while
so none stays stuck behind a frame that never ends. Afterwards the server
must still answer, have let go of every fuzzing client, and not have grown
its memory without bound.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from tests.server.conftest import ServerFactory
from tests.server.rawclient import ping, wait_for
from tests.support import wire

SEED = 20240611
FRAMES = 100_000
BATCH = 8  # frames per write
WIRE_SHARE = 0.25  # of frames mutated on the wire; the rest in one argument
CONNECTIONS = 4  # open at once, used in turn
RETIRE_AFTER = 40  # writes, before a connection is replaced anyway
ANSWER_WAIT_S = 0.05  # for the first bytes of an answer to a batch
MiB = 1024 * 1024
RSS_GROWTH_LIMIT = 256 * MiB

# Commands whose arguments cannot make the server allocate much, however
# their digits are mutated (no SETRANGE offsets, no SRANDMEMBER counts, no
# CONFIG or CLIENT KILL, no blocking without a short timeout).
CORPUS = [
    [b"SET", b"key", b"value"],
    [b"SET", b"key", b"value", b"EX", b"100", b"NX"],
    [b"GET", b"key"],
    [b"MSET", b"a", b"1", b"b", b"2"],
    [b"MGET", b"a", b"b", b"c"],
    [b"INCR", b"counter"],
    [b"INCRBYFLOAT", b"float", b"1.5"],
    [b"APPEND", b"key", b"more"],
    [b"DEL", b"a", b"b"],
    [b"EXPIRE", b"key", b"60"],
    [b"TTL", b"key"],
    [b"LPUSH", b"list", b"x", b"y"],
    [b"RPOP", b"list"],
    [b"LRANGE", b"list", b"0", b"-1"],
    [b"BLPOP", b"list", b"0.01"],
    [b"SADD", b"set", b"m1", b"m2"],
    [b"SMEMBERS", b"set"],
    [b"HSET", b"hash", b"f", b"v"],
    [b"HGETALL", b"hash"],
    [b"ZADD", b"zset", b"1", b"m"],
    [b"MULTI"],
    [b"EXEC"],
    [b"WATCH", b"key"],
    [b"PING"],
    [b"ECHO", b"hello"],
    [b"HELLO", b"3"],
    [b"HELLO", b"2"],
    [b"SUBSCRIBE", b"chan"],
    [b"UNSUBSCRIBE"],
    [b"PUBLISH", b"chan", b"msg"],
    [b"TYPE", b"key"],
    [b"EXISTS", b"key", b"list"],
    [b"SCAN", b"0", b"COUNT", b"10"],
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random byte flip, truncation or insertion."""
    mutated = bytearray(data)
    position = rng.randrange(len(mutated) + 1)
    choice = rng.random()
    if choice < 0.4 and mutated:
        mutated[min(position, len(mutated) - 1)] = rng.randrange(256)
    elif choice < 0.6:
        del mutated[position:]
    else:
        mutated[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(mutated)


def fuzz_frame(rng: random.Random) -> bytes:
    """A corpus command mutated either in its bytes on the wire or in one argument.

    Mutating the wire bytes breaks the framing most of the time (the parser's
    errors and the hang-up); mutating an argument keeps the framing and feeds
    the commands garbage (unknown names, bad numbers, odd keys).
    """
    argv = list(rng.choice(CORPUS))
    if rng.random() < WIRE_SHARE:
        wire_frame = wire.encode_command(argv) if rng.random() < 0.8 else b" ".join(argv) + b"\r\n"
        return mutate(rng, wire_frame)
    index = rng.randrange(len(argv))
    argv[index] = mutate(rng, argv[index])
    return wire.encode_command(argv)


def frames(rng: random.Random, count: int) -> list[bytes]:
    return [fuzz_frame(rng) for _ in range(count)]


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Fuzzer:
    """A few connections to the server, replaced when closed or worn out."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: list[socket.socket | None] = [None] * CONNECTIONS
        self.writes = [0] * CONNECTIONS
        self.reconnects = 0

    def _socket(self, slot: int) -> socket.socket:
        sock = self.socks[slot]
        if sock is None or self.writes[slot] >= RETIRE_AFTER:
            if sock is not None:
                sock.close()
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.socks[slot], self.writes[slot] = sock, 0
            self.reconnects += 1
        return sock

    def send(self, slot: int, data: bytes) -> None:
        """Write a batch and wait briefly for the server's answer to it.

        Waiting paces the fuzz to the server, so each batch is parsed before
        the next; a connection with no answer in time (parked behind an
        unfinished frame or a blocking pop) is replaced.
        """
        sock = self._socket(slot)
        self.writes[slot] += 1
        try:
            sock.sendall(data)
            sock.settimeout(ANSWER_WAIT_S)
            if not sock.recv(1 << 20):
                raise ConnectionResetError("closed by the server")
            self._drain(sock)
        except OSError:  # closed by the server (reset, broken pipe), or no answer
            self._drop(slot)

    def _drain(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        try:
            while True:
                if not sock.recv(1 << 20):
                    raise ConnectionResetError("closed by the server")
        except BlockingIOError:
            pass

    def _drop(self, slot: int) -> None:
        sock = self.socks[slot]
        if sock is not None:
            sock.close()
        self.socks[slot] = None

    def close(self) -> None:
        for slot in range(CONNECTIONS):
            self._drop(slot)


def test_mutated_frames_never_hurt_the_server(server_factory: ServerFactory) -> None:
    """After 100,000 mutated frames the server answers PING, holds no stray clients,
    and its memory grew within a generous bound."""
    server = server_factory()
    rng = random.Random(SEED)
    fuzzer = Fuzzer(server.port)
    warm_up = frames(rng, 5_000)
    try:
        for index in range(0, len(warm_up), BATCH):
            fuzzer.send(index // BATCH % CONNECTIONS, b"".join(warm_up[index : index + BATCH]))
        rss_before = _rss_bytes()
        started = time.monotonic()
        sent = 0
        while sent < FRAMES:
            batch = frames(rng, BATCH)
            fuzzer.send(sent // BATCH % CONNECTIONS, b"".join(batch))
            sent += len(batch)
        elapsed = time.monotonic() - started
    finally:
        fuzzer.close()
    assert ping(server.port) == b"+PONG\r\n"
    wait_for(lambda: server.client_count() == 0, "the fuzzing clients to be let go")
    assert server.blocked_count() == 0
    assert server.call(lambda: len(server.server.pubsub.channels)) == 0
    growth = _rss_bytes() - rss_before
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / MiB:.0f} MiB in {elapsed:.0f} s"
    assert fuzzer.reconnects > CONNECTIONS  # the fuzz did break connections
    assert server.call(lambda: server.server.engine.commands_processed) > FRAMES // 10


def test_mutation_is_seeded() -> None:
    """The same seed gives the same frames, so a failure can be replayed."""
    assert frames(random.Random(SEED), 50) == frames(random.Random(SEED), 50)
