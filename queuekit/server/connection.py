"""One client connection: bytes in, commands through the engine, replies out.

An asyncio Protocol rather than an anyio stream: measured on this workload,
a stream's per-read resume/pause and checkpoints cost 2.5-4x throughput,
while a Protocol's `data_received` hands over whatever the socket had. anyio
still owns the server's structure (see app.py).

Rules:
1. Replies to the commands of one read are written with one write.
2. A blocked command (BLPOP...) holds the client: later commands of the same
   read wait, as on Redis, until it is served or times out. The engine calls
   `_served` from inside another client's command; the reply is written, and
   the rest run, from a fresh loop callback so nothing re-enters the engine.
3. A client whose unread replies pass `output_buffer_limit`, or whose unparsed
   input passes `query_buffer_limit`, is disconnected: the server's memory
   stays bounded whatever a client does.
4. A malformed frame gets its error reply, after the replies of the commands
   before it, and then the connection is closed; nobody else is affected.
5. Replies are held, not written: `_flush` hands them to the server, which
   at the end of the event-loop pass runs its release point once for every
   client that read something and then has each write what it held, as
   Redis writes replies in beforeSleep. Writing after all of a pass's reads
   costs the kernel less than a send after every read (measured: 10-20%
   more pipelined throughput). With an append-only file the release point
   is also the group commit: one write and, under `always`, one fsync for
   every client's commands of the pass, so the writes those replies
   acknowledge (a served blocked client's pop included) are in the file
   before any client hears of them. If the release fails the replies are
   dropped, never sent. Anything written while replies are held (a pub/sub
   message, an error) goes behind them, and a hang-up waits for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import structlog

from queuekit.engine import errors as engine_errors
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, Blocked, Reply, Status
from queuekit.engine.session import Session
from queuekit.resp.encoder import BULK_HEADERS, CRLF, INTEGER_REPLIES, encode_reply
from queuekit.resp.errors import RemoteProtocolError
from queuekit.resp.requests import RequestParser

if TYPE_CHECKING:
    from queuekit.server.app import Server

log = structlog.get_logger(__name__)

NOAUTH = CommandError("NOAUTH Authentication required.")
OK_LINE = b"+OK\r\n"
# Commands a client may send before AUTH (Redis's CMD_NO_AUTH flag).
_NO_AUTH_NEEDED = frozenset({b"auth", b"hello", b"quit", b"reset"})
# In RESP2, a subscribed client may only send these (Redis's pubsub context).
_SUBSCRIBED_ALLOWED = frozenset(
    {
        b"subscribe",
        b"unsubscribe",
        b"psubscribe",
        b"punsubscribe",
        b"ping",
        b"quit",
        b"reset",
        b"ssubscribe",
        b"sunsubscribe",
    }
)


class NoReply:
    """A command that wrote its own replies (SUBSCRIBE writes one per channel)."""

    __slots__ = ()


NO_REPLY = NoReply()


class Connection(asyncio.Protocol):
    """A client of the server (Redis's `client` struct)."""

    def __init__(self, server: Server, kind: str) -> None:
        self.server = server
        self.kind = kind  # "tcp" or "unix"
        self.session = Session()
        self.session.client = self
        self.authenticated = server.config.requirepass is None
        self.parser = RequestParser(server.config.limits, authenticated=self.authenticated)
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.local_address = ""
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_command = b"NULL"
        self.lib_name = b""
        self.lib_version = b""
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.blocked: Blocked | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._pending: list[list[bytes]] = []
        self._out: list[bytes] = []
        self._held: list[bytes] = []  # replies waiting for the release point (rule 5)
        self._held_bytes = 0
        self._unsent_bound = 0  # see _write
        self._running = False
        self.closing = False

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        self.address = _format_address(transport.get_extra_info("peername"), self.kind)
        self.local_address = _format_address(transport.get_extra_info("sockname"), self.kind)
        if not self.server.admit(self):
            transport.write(b"-ERR max number of clients reached\r\n")
            self.closing = True
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._timeout is not None:
            self._timeout.cancel()
        if self.blocked is not None:
            self.server.engine.unblock(self.blocked)
            self.blocked = None
        self.server.forget(self)

    def data_received(self, data: bytes) -> None:
        self.last_interaction = time.monotonic()
        parser = self.parser
        parser.feed(data)
        if parser.buffered > self.server.config.query_buffer_limit:
            log.warning("client_query_buffer_limit", client=self.address, bytes=parser.buffered)
            self.abort()
            return
        if self.blocked is None and not self.closing:
            self._process()

    # -- running commands ----------------------------------------------------

    def _process(self) -> None:
        try:
            commands = self.parser.commands()
        except RemoteProtocolError:
            commands = []  # the parser keeps the error: answered below
        if self._pending:
            commands = self._pending + commands
            self._pending = []
        if commands:
            self._run(commands)
            if self.blocked is not None or self.closing:
                return
        # A broken frame, alone or after the good ones just run (parser rule 4).
        error = self.parser.error
        if error is not None:
            # The message quotes the offending byte as one character: latin-1.
            self._write(b"-ERR %s\r\n" % error.message.encode("latin-1", "replace"))
            self.close()

    def _run(self, commands: Sequence[list[bytes]]) -> None:
        append = self._out.append
        self._running = True
        session = self.session
        run_in_engine = self.server.engine.execute
        # The common case skips the AUTH and subscribed-mode checks entirely;
        # any reply other than bytes or int (OK from AUTH or QUIT, SUBSCRIBE's
        # pushes, HELLO's map) re-reads the state that could have changed them.
        plain = self.authenticated and not (self.channels or self.patterns)
        # Replies not yet written: past the output limit they are written (and
        # the limit checked) at once, so a pipeline of huge replies to a client
        # that does not read never piles up here (rule 3).
        pending = 0
        flush_at = self.server.config.output_buffer_limit
        try:
            for index, argv in enumerate(commands):
                if plain:
                    try:
                        reply = run_in_engine(session, argv)
                    except CommandError as error:
                        reply = error
                else:
                    reply = self.execute(argv)
                kind = type(reply)
                if kind is bytes:  # three appends: cheaper than formatting one
                    size = len(reply)
                    append(BULK_HEADERS[size] if size < 512 else b"$%d\r\n" % size)
                    append(reply)
                    append(CRLF)
                    pending += size
                elif kind is int:
                    append(INTEGER_REPLIES[reply] if 0 <= reply < 512 else b":%d\r\n" % reply)
                    continue  # too small to need the flush check below
                elif kind is Blocked:
                    self._block(reply)
                    self._pending = list(commands[index + 1 :])
                    break
                else:
                    if kind is Status:  # +OK, the commonest of the rest, inline
                        append(OK_LINE if reply is OK else b"+%s\r\n" % reply)
                    elif reply is not NO_REPLY:
                        # HELLO answers in the protocol it switches to: read after it ran.
                        data = encode_reply(reply, session.resp)
                        append(data)
                        pending += len(data)
                    if self.closing:
                        break
                    plain = self.authenticated and not (self.channels or self.patterns)
                if pending > flush_at:
                    pending = 0
                    self._flush()
                    if self.closing:
                        break
        finally:
            self._running = False
            self.last_command = commands[-1][0]
            self._flush()
            if self.closing:
                self._hang_up()  # QUIT: once its reply is written

    def execute(self, argv: list[bytes]) -> Reply:
        """One command for this client, with the connection-level checks first."""
        if not self.authenticated and argv[0].lower() not in _NO_AUTH_NEEDED:
            return self._refuse_unauthenticated(argv)
        if (self.channels or self.patterns) and self.session.resp == 2:
            name = argv[0].lower()
            if name not in _SUBSCRIBED_ALLOWED:
                return CommandError(
                    f"ERR Can't execute '{name.decode(errors='replace')}': only (P|S)SUBSCRIBE / "
                    "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                )
            if name == b"ping" and len(argv) <= 2:
                # A subscribed RESP2 client reads arrays only: Redis answers ["pong", arg].
                return [b"pong", argv[1] if len(argv) == 2 else b""]
        try:
            return self.server.engine.execute(self.session, argv)
        except CommandError as error:
            return error

    def _refuse_unauthenticated(self, argv: list[bytes]) -> Reply:
        """NOAUTH, after the unknown-command and arity checks Redis makes first."""
        cmd = self.server.engine.commands.get(argv[0].lower())
        if cmd is None:
            return CommandError(engine_errors.unknown_command(argv))
        arity = cmd.arity
        if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
            return CommandError(engine_errors.wrong_arity(argv[0]))
        if cmd.name == "exec":  # Redis refuses EXEC as execCommandAbort words it
            return CommandError(engine_errors.exec_abort_because(NOAUTH.message))
        return NOAUTH

    # -- blocking ------------------------------------------------------------

    def _block(self, blocked: Blocked) -> None:
        self.blocked = blocked
        self.server.engine.block(blocked, self._served)
        if blocked.deadline_ms is not None:
            delay = max(0.0, (blocked.deadline_ms - self.server.engine.clock.now_ms()) / 1000)
            self._timeout = asyncio.get_running_loop().call_later(delay, self._timed_out)

    def _served(self, reply: Reply) -> None:
        # Called inside another client's command: finish from a fresh callback.
        asyncio.get_running_loop().call_soon(self._resume, reply)

    def _timed_out(self) -> None:
        self._timeout = None
        blocked = self.blocked
        if blocked is not None and self.server.engine.unblock(blocked):
            self._resume(blocked.timeout_reply)

    def _resume(self, reply: Reply) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        self.blocked = None
        if self.closing:
            return
        self._out.append(encode_reply(reply, self.session.resp))
        self._flush()
        self._process()  # the rest of the pipeline, or a broken frame after the command

    # -- output --------------------------------------------------------------

    def push(self, reply: Any) -> None:
        """Send an out-of-band reply (pub/sub messages), after any replies being built."""
        data = encode_reply(reply, self.session.resp)
        if self._running:
            self._out.append(data)
        else:
            self._hold(data)

    def _flush(self) -> None:
        if self._out:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._hold(data)

    def _write(self, data: bytes) -> None:
        if self._held:  # behind the replies waiting for the release point
            self._hold(data)
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        # What the transport could not send yet only shrinks until the next
        # write: it bounds the unsent bytes `_hold` counts without asking.
        self._unsent_bound = transport.get_write_buffer_size()
        if self._unsent_bound > self.server.config.output_buffer_limit:
            self._enforce_output_limit()

    def _hold(self, data: bytes) -> None:
        if not self._held:
            self.server.hold_replies(self)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes + self._unsent_bound > self.server.config.output_buffer_limit:
            self._enforce_output_limit()  # exactly, with what is unsent now

    def _enforce_output_limit(self) -> None:
        """Rule 3, held replies included."""
        pending = self.output_pending
        if pending > self.server.config.output_buffer_limit:
            log.warning("client_output_buffer_limit", client=self.address, bytes=pending)
            self.abort()

    def release_held(self, released: bool) -> None:
        """The server's release point ran: write the held replies, or drop them if it failed."""
        held, self._held, self._held_bytes = self._held, [], 0
        if released:
            self._write(b"".join(held))
        if self.closing:
            self._hang_up()

    def close(self) -> None:
        """Close after the replies already written (QUIT, protocol errors)."""
        self.closing = True
        self._hang_up()

    def _hang_up(self) -> None:
        # Held replies are written first: release_held hangs up after them.
        if self.transport is not None and not self._held:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, unsent replies included (limits, CLIENT KILL)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def idle_seconds(self) -> float:
        return time.monotonic() - self.last_interaction

    @property
    def age_seconds(self) -> float:
        return time.monotonic() - self.created

    @property
    def output_pending(self) -> int:
        """Bytes of replies not yet taken by the client, held ones included."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + self._held_bytes

    @property
    def fd(self) -> int:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        return int(sock.fileno()) if sock is not None else -1


def _format_address(address: Any, kind: str) -> str:
    if kind == "unix":
        return f"{address or ''}:0"
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return "?:0"
