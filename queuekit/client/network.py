"""redis://, rediss:// and unix://: clients of the queuekit server or any Redis 7.

The same surface as memory:// (`execute`, `pipeline`, typed methods), the
same reply values: connections speak RESP3 (HELLO 3) so doubles, maps and
sets arrive typed, exactly as the in-process engine returns them.

Rules:
1. A pool lends each command a connection and takes it back after the reply,
   so a client is safe to share between threads (sync) or tasks (async).
2. Connecting retries with exponential backoff for `retry_for` seconds, so a
   restarting store is waited for rather than reported at once.
3. A command is never re-sent. An idle pooled connection that the store has
   closed (idle timeout, restart) is noticed before use and replaced; a
   connection that breaks after a command was sent raises
   StoreConnectionError, because the command may have run, and sending it
   again could run it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from queuekit.client.address import Address
from queuekit.client.commands import Commands
from queuekit.client.encoding import encode_command
from queuekit.client.results import pipeline_results, transaction_replies
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Reply
from queuekit.errors import StoreConnectionError, UsageError, response_error
from queuekit.resp.encoder import encode_commands as frame_all
from queuekit.resp.errors import ProtocolError
from queuekit.resp.replies import NEED_DATA, ReplyParser

READ_SIZE = 65536
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 1.0


def _handshake(address: Address) -> list[tuple[bytes, ...]]:
    """The commands that open a connection: HELLO 3 (with AUTH, SETNAME), SELECT."""
    hello: list[bytes] = [b"HELLO", b"3"]
    if address.password is not None:
        hello += [b"AUTH", (address.username or "default").encode(), address.password.encode()]
    if address.client_name:
        hello += [b"SETNAME", address.client_name.encode()]
    commands = [tuple(hello)]
    if address.db:
        commands.append((b"SELECT", str(address.db).encode()))
    return commands


def _tls_context(address: Address) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=address.ssl_ca_certs)
    if address.ssl_cert_reqs == "none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def backoff_delays(retry_for: float) -> Iterator[float]:
    """Exponential delays, doubling to BACKOFF_MAX_S, for about `retry_for` seconds.

    Lazy: it reads the clock between attempts, so never turn it into a list.
    """
    deadline = time.monotonic() + retry_for
    delay = BACKOFF_FIRST_S
    while time.monotonic() + delay < deadline:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX_S)


def _result(reply: Reply) -> Any:
    if isinstance(reply, CommandError):
        raise response_error(reply.message)
    return None if reply is NULL_ARRAY else reply


# -- synchronous ---------------------------------------------------------------


class Connection:
    """One socket to the store, with its parser."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.parser = ReplyParser()
        self.sock = self._open()
        try:
            for reply in self.call_many(_handshake(address)):
                if isinstance(reply, CommandError):
                    raise response_error(reply.message)
        except BaseException:
            self.close()
            raise

    def _open(self) -> socket.socket:
        address = self.address
        if address.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(address.connect_timeout)
            sock.connect(address.path)
        else:
            sock = socket.create_connection(
                (address.host, address.port), timeout=address.connect_timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                sock = _tls_context(address).wrap_socket(sock, server_hostname=address.host)
        sock.settimeout(address.reply_timeout)
        return sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def alive(self) -> bool:
        """False if the store closed this idle connection.

        An idle connection has nothing to read, so anything readable (EOF, a
        reset, stray bytes) means it cannot be used. A zero-timeout poll
        rather than a peeking recv: that one waits out a socket's timeout,
        and TLS sockets refuse recv flags.
        """
        try:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):  # closed, or no longer a file descriptor
            return False

    def read(self) -> Reply:
        parser = self.parser
        reply = parser.next_reply()
        while reply is NEED_DATA:
            data = self.sock.recv(READ_SIZE)
            if not data:
                raise ConnectionResetError("the store closed the connection")
            parser.feed(data)
            reply = parser.next_reply()
        return reply

    def call_many(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        self.send(frame_all(commands))
        return [self.read() for _ in commands]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class ConnectionPool:
    """Idle connections, most recently used first; at most `max_connections` open."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self._idle: deque[Connection] = deque()
        self._open = 0
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)
        self._closed = False

    def acquire(self) -> Connection:
        """An open connection: an idle one still alive, or a new one."""
        with self._lock:
            while True:
                if self._closed:
                    raise UsageError("the client is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if conn.alive():
                        return conn
                    conn.close()
                    self._open -= 1
                if self._open < self.address.max_connections:
                    self._open += 1
                    break
                self._available.wait()
        try:
            return self._connect()
        except BaseException:
            with self._lock:
                self._open -= 1
                self._available.notify()
            raise

    def _connect(self) -> Connection:
        last_error: Exception | None = None
        for delay in itertools.chain(backoff_delays(self.address.retry_for), [None]):
            try:
                return Connection(self.address)
            except (OSError, ProtocolError) as error:
                last_error = error
            if delay is not None:
                time.sleep(delay)
        raise StoreConnectionError(
            f"cannot connect to {self.address.describe()} "
            f"(tried for {self.address.retry_for:g} s): {last_error}"
        ) from last_error

    def release(self, conn: Connection) -> None:
        with self._lock:
            if self._closed:
                self._open -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._available.notify()

    def discard(self, conn: Connection) -> None:
        conn.close()
        with self._lock:
            self._open -= 1
            self._available.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while self._idle:
                self._idle.pop().close()
                self._open -= 1
            self._available.notify_all()


class NetworkClient(Commands):
    """A synchronous client of a network store; share it freely across threads."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.pool = ConnectionPool(address)

    def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        return _result(self.call([encode_command(args)])[0])

    def call(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        """Send commands in one write on one connection and read all their replies."""
        conn = self.pool.acquire()
        try:
            replies = conn.call_many(commands)
        except (OSError, ProtocolError) as error:
            self.pool.discard(conn)
            raise StoreConnectionError(
                f"connection to {self.address.describe()} broke: {error}; "
                "the command may or may not have run"
            ) from error
        except BaseException:
            self.pool.discard(conn)
            raise
        self.pool.release(conn)
        return replies

    def pipeline(self, transaction: bool = True) -> NetworkPipeline:
        return NetworkPipeline(self, transaction=transaction)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> NetworkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class NetworkPipeline(Commands):
    """Buffered commands sent in one write; MULTI/EXEC around them if `transaction`.

    `watch(...)` pins a connection and runs commands at once until `multi()`,
    redis-py style; EXEC then raises WatchError if a watched key changed.
    """

    def __init__(self, client: NetworkClient, *, transaction: bool) -> None:
        self.client = client
        self.transaction = transaction
        self._buffer: list[tuple[bytes, ...]] = []
        self._pinned: Connection | None = None
        self._immediate = False

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return _result(self._pinned_call([argv])[0])
        self._buffer.append(argv)
        return self

    def _pinned_call(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        if self._pinned is None:
            self._pinned = self.client.pool.acquire()
        try:
            return self._pinned.call_many(commands)
        except (OSError, ProtocolError) as error:
            self.client.pool.discard(self._pinned)
            self._pinned = None
            raise StoreConnectionError(f"connection broke during a transaction: {error}") from error

    def watch(self, *keys: Any) -> None:
        if self._buffer:
            raise UsageError("call watch() before buffering commands in a pipeline")
        self._immediate = True
        _result(self._pinned_call([encode_command((b"WATCH", *keys))])[0])

    def unwatch(self) -> None:
        if self._pinned is not None:
            self._pinned_call([(b"UNWATCH",)])

    def multi(self) -> None:
        if not self._immediate:
            raise UsageError("multi() follows watch(); a plain pipeline buffers already")
        self._immediate = False

    def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command; without, run the buffer and return the replies."""
        if args:
            return self.execute_command(*args)
        commands, self._buffer = self._buffer, []
        self._immediate = False
        try:
            if self.transaction:
                replies = self._transaction(commands)
            elif commands:
                replies = self.client.call(commands)
            else:
                replies = []
        finally:
            self._unpin()
        return pipeline_results(replies, raise_on_error=raise_on_error)

    def _transaction(self, commands: list[tuple[bytes, ...]]) -> list[Reply]:
        if not commands:
            if self._pinned is not None:
                self._pinned_call([(b"UNWATCH",)])
            return []
        wrapped = [(b"MULTI",), *commands, (b"EXEC",)]
        if self._pinned is not None:
            replies = self._pinned_call(wrapped)
        else:
            replies = self.client.call(wrapped)
        return transaction_replies(commands, replies[1:-1], replies[-1])

    def _unpin(self) -> None:
        if self._pinned is not None:
            self.client.pool.release(self._pinned)
            self._pinned = None

    def __len__(self) -> int:
        return len(self._buffer)

    def __enter__(self) -> NetworkPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pinned is not None:
            with contextlib.suppress(StoreConnectionError):
                self.unwatch()
            self._unpin()
        self._buffer.clear()


# -- asyncio --------------------------------------------------------------------


class AsyncConnection:
    """One asyncio stream to the store, with its parser."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.parser = ReplyParser()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        address = self.address
        if address.path:
            opening = asyncio.open_unix_connection(address.path)
        else:
            opening = asyncio.open_connection(
                address.host,
                address.port,
                ssl=_tls_context(address) if address.tls else None,
                server_hostname=address.host if address.tls else None,
            )
        reader, writer = await asyncio.wait_for(opening, address.connect_timeout)
        self.reader, self.writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for reply in await self.call_many(_handshake(address)):
                if isinstance(reply, CommandError):
                    raise response_error(reply.message)
        except BaseException:
            self.close()
            raise

    def alive(self) -> bool:
        """False if the store closed this idle connection."""
        return self.reader is not None and not self.reader.at_eof()

    async def call_many(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        """Send `commands` in one write; their replies, parsed as the bytes arrive."""
        await self.send(commands)
        return await self.receive(len(commands))

    async def send(self, commands: Sequence[Sequence[bytes]]) -> None:
        """Write `commands` in one write (the halves of call_many let a cluster client
        write to every node before it reads from any)."""
        assert self.writer is not None
        self.writer.write(frame_all(commands))
        await self.writer.drain()

    async def receive(self, wanted: int) -> list[Reply]:
        """The next `wanted` replies, parsed as the bytes arrive.

        The reply timeout bounds each wait for more bytes: a store that keeps
        answering is never cut off, one that stalls is.
        """
        assert self.reader is not None
        parser, reader, timeout = self.parser, self.reader, self.address.reply_timeout
        replies: list[Reply] = []
        while len(replies) < wanted:
            reply = parser.next_reply()
            if reply is not NEED_DATA:
                replies.append(reply)
                continue
            if timeout is None:
                data = await reader.read(READ_SIZE)
            else:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
            if not data:
                raise ConnectionResetError("the store closed the connection")
            parser.feed(data)
        return replies

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class AsyncConnectionPool:
    def __init__(self, address: Address) -> None:
        self.address = address
        self._idle: deque[AsyncConnection] = deque()
        self._open = 0
        self._available = asyncio.Condition()
        self._closed = False

    async def acquire(self) -> AsyncConnection:
        async with self._available:
            while True:
                if self._closed:
                    raise UsageError("the client is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if conn.alive():
                        return conn
                    conn.close()
                    self._open -= 1
                if self._open < self.address.max_connections:
                    self._open += 1
                    break
                await self._available.wait()
        try:
            return await self._connect()
        except BaseException:
            async with self._available:
                self._open -= 1
                self._available.notify()
            raise

    async def _connect(self) -> AsyncConnection:
        last_error: Exception | None = None
        for delay in itertools.chain(backoff_delays(self.address.retry_for), [None]):
            conn = AsyncConnection(self.address)
            try:
                await conn.open()
                return conn
            except (OSError, ProtocolError, TimeoutError) as error:
                last_error = error
            if delay is not None:
                await asyncio.sleep(delay)
        raise StoreConnectionError(
            f"cannot connect to {self.address.describe()} "
            f"(tried for {self.address.retry_for:g} s): {last_error}"
        ) from last_error

    async def release(self, conn: AsyncConnection) -> None:
        async with self._available:
            if self._closed:
                self._open -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._available.notify()

    async def discard(self, conn: AsyncConnection) -> None:
        conn.close()
        async with self._available:
            self._open -= 1
            self._available.notify()

    async def close(self) -> None:
        async with self._available:
            self._closed = True
            while self._idle:
                self._idle.pop().close()
                self._open -= 1
            self._available.notify_all()


class AsyncNetworkClient(Commands):
    """The asyncio twin of NetworkClient."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.pool = AsyncConnectionPool(address)

    async def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        return _result((await self.call([encode_command(args)]))[0])

    async def call(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        conn = await self.pool.acquire()
        try:
            replies = await conn.call_many(commands)
        except (OSError, ProtocolError, TimeoutError) as error:
            await self.pool.discard(conn)
            raise StoreConnectionError(
                f"connection to {self.address.describe()} broke: {error}; "
                "the command may or may not have run"
            ) from error
        except BaseException:
            await self.pool.discard(conn)
            raise
        await self.pool.release(conn)
        return replies

    def pipeline(self, transaction: bool = True) -> AsyncNetworkPipeline:
        return AsyncNetworkPipeline(self, transaction=transaction)

    async def aclose(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> AsyncNetworkClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncNetworkPipeline(Commands):
    """Buffered commands for the asyncio client; `await pipe.execute()` runs them.

    As the sync pipeline: `await pipe.watch(...)` pins a connection and runs
    commands at once (awaited) until `multi()`; EXEC then raises WatchError if
    a watched key changed.
    """

    def __init__(self, client: AsyncNetworkClient, *, transaction: bool) -> None:
        self.client = client
        self.transaction = transaction
        self._buffer: list[tuple[bytes, ...]] = []
        self._pinned: AsyncConnection | None = None
        self._immediate = False

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return self._immediate_call(argv)
        self._buffer.append(argv)
        return self

    async def _immediate_call(self, argv: tuple[bytes, ...]) -> Any:
        return _result((await self._pinned_call([argv]))[0])

    async def _pinned_call(self, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        if self._pinned is None:
            self._pinned = await self.client.pool.acquire()
        try:
            return await self._pinned.call_many(commands)
        except (OSError, ProtocolError, TimeoutError) as error:
            await self.client.pool.discard(self._pinned)
            self._pinned = None
            raise StoreConnectionError(f"connection broke during a transaction: {error}") from error

    async def watch(self, *keys: Any) -> None:
        if self._buffer:
            raise UsageError("call watch() before buffering commands in a pipeline")
        _result((await self._pinned_call([encode_command((b"WATCH", *keys))]))[0])
        self._immediate = True

    async def unwatch(self) -> None:
        if self._pinned is not None:
            await self._pinned_call([(b"UNWATCH",)])

    def multi(self) -> None:
        if not self._immediate:
            raise UsageError("multi() follows watch(); a plain pipeline buffers already")
        self._immediate = False

    async def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command (or run it, after `watch`);
        without, run the buffer and return the replies."""
        if args:
            result = self.execute_command(*args)
            return result if result is self else await result
        commands, self._buffer = self._buffer, []
        self._immediate = False
        try:
            replies = await self._run(commands)
        finally:
            await self._unpin()
        return pipeline_results(replies, raise_on_error=raise_on_error)

    async def _run(self, commands: list[tuple[bytes, ...]]) -> list[Reply]:
        if not commands:
            if self._pinned is not None:
                await self._pinned_call([(b"UNWATCH",)])
            return []
        if not self.transaction:
            return await self.client.call(commands)
        wrapped = [(b"MULTI",), *commands, (b"EXEC",)]
        if self._pinned is not None:
            replies = await self._pinned_call(wrapped)
        else:
            replies = await self.client.call(wrapped)
        return transaction_replies(commands, replies[1:-1], replies[-1])

    async def reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._buffer.clear()
        self._immediate = False
        if self._pinned is not None:
            with contextlib.suppress(StoreConnectionError):
                await self.unwatch()
            await self._unpin()

    async def _unpin(self) -> None:
        if self._pinned is not None:
            await self.client.pool.release(self._pinned)
            self._pinned = None

    def __len__(self) -> int:
        return len(self._buffer)

    async def __aenter__(self) -> AsyncNetworkPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.reset()
