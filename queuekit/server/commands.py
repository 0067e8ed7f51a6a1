"""Connection and server commands: what clients and tools expect of a Redis.

AUTH, HELLO, SELECT, CLIENT, QUIT, RESET, CONFIG and pub/sub need the
connection or the server, so they live here rather than in the engine; the
server registers them into its engine's table (`Engine.register`), and they
go through the same dispatcher checks (arity, MULTI queueing) as the rest.
A handler reaches its connection through `session.client`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from queuekit import __version__
from queuekit.engine import errors
from queuekit.engine.args import parse_int
from queuekit.engine.command import NO_KEYS, command
from queuekit.engine.commands.transactions import unwatch_all
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match
from queuekit.engine.replies import OK, Push, Reply, Status, Verbatim
from queuekit.server.connection import NO_REPLY, Connection

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOPROTO = "NOPROTO unsupported protocol version"
HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
    "select the RESP protocol version at the same time"
)
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
BAD_CLIENT_NAME = "ERR Client names cannot contain spaces, newlines or special characters."
_BAD_KILL_ID = "client-id should be greater than 0"


def connection_of(session: Session) -> Connection:
    return cast(Connection, session.client)


# -- authentication and protocol ----------------------------------------------


def check_password(conn: Connection, username: bytes, password: bytes) -> None:
    """Authenticate `conn` or raise WRONGPASS; constant time in the password."""
    expected = conn.server.config.requirepass
    if expected is None:
        if username == b"default":
            return  # the default user has no password: any AUTH succeeds, as on Redis
        raise CommandError(WRONGPASS)
    matches = hmac.compare_digest(password, expected.encode())
    if username != b"default" or not matches:
        raise CommandError(WRONGPASS)
    conn.authenticated = True
    conn.parser.authenticated = True


def auth(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """AUTH [username] password"""
    conn = connection_of(session)
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2 and conn.server.config.requirepass is None:
        raise CommandError(AUTH_NOT_CONFIGURED)
    username = argv[1] if len(argv) == 3 else b"default"
    check_password(conn, username, argv[-1])
    return OK


def hello(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """HELLO [protover [AUTH username password] [SETNAME clientname]]"""
    conn = connection_of(session)
    protocol = session.resp
    if len(argv) >= 2:
        try:
            protocol = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if protocol not in (2, 3):
            raise CommandError(NOPROTO)
    name: bytes | None = None
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if option == b"AUTH" and index + 2 < len(argv):
            check_password(conn, argv[index + 1], argv[index + 2])
            index += 3
        elif option == b"SETNAME" and index + 1 < len(argv):
            name = _valid_name(argv[index + 1])
            index += 2
        else:
            given = argv[index].decode(errors="replace")
            raise CommandError(f"ERR Syntax error in HELLO option '{given}'")
    if not conn.authenticated:
        raise CommandError(HELLO_NOAUTH)
    if name is not None:
        session.name = name
    session.resp = protocol
    return {
        b"server": b"queuekit",
        b"version": __version__.encode(),
        b"proto": protocol,
        b"id": session.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def select(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """SELECT index"""
    if parse_int(argv[1]) != 0:
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    return OK


def quit_(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """QUIT"""
    connection_of(session).closing = True
    return OK


def reset(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """RESET"""
    conn = connection_of(session)
    session.multi = None
    session.multi_failed = False
    unwatch_all(engine, session)
    session.resp = 2
    session.name = b""
    conn.server.pubsub.forget(conn)
    if conn.server.config.requirepass is not None:
        conn.authenticated = False
        conn.parser.authenticated = False
    return Status(b"RESET")


# -- CLIENT -------------------------------------------------------------------


def _valid_name(name: bytes) -> bytes:
    if any(byte < 0x21 or byte > 0x7E for byte in name):
        raise CommandError(BAD_CLIENT_NAME)
    return name


def client(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """CLIENT subcommand [argument ...]"""
    conn = connection_of(session)
    sub = argv[1].lower()
    handler = _CLIENT_SUBCOMMANDS.get(sub)
    if handler is None:
        raise CommandError(errors.unknown_subcommand(argv[1], "CLIENT"))
    check_subcommand_arity("client", argv, _CLIENT_ARITY[sub])
    return handler(conn, argv)


def check_subcommand_arity(command: str, argv: Sequence[bytes], arity: int) -> None:
    """Redis 7's arity check of a subcommand (arity in Redis's sign convention)."""
    if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
        name = argv[1].lower().decode(errors="replace")
        raise CommandError(f"ERR wrong number of arguments for '{command}|{name}' command")


def _client_id(conn: Connection, argv: Sequence[bytes]) -> Reply:
    return conn.session.id


def _client_setname(conn: Connection, argv: Sequence[bytes]) -> Reply:
    conn.session.name = _valid_name(argv[2])
    return OK


def _client_getname(conn: Connection, argv: Sequence[bytes]) -> Reply:
    return conn.session.name or None


def _client_setinfo(conn: Connection, argv: Sequence[bytes]) -> Reply:
    attribute = argv[2].upper()
    if attribute == b"LIB-NAME":
        conn.lib_name = _valid_name(argv[3])
    elif attribute == b"LIB-VER":
        conn.lib_version = _valid_name(argv[3])
    else:
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode(errors='replace')}'")
    return OK


def _client_info(conn: Connection, argv: Sequence[bytes]) -> Reply:
    return Verbatim(client_line(conn).encode() + b"\n")


def _client_list(conn: Connection, argv: Sequence[bytes]) -> Reply:
    clients = list(conn.server.clients.values())
    if len(argv) > 2:
        option = argv[2].upper()
        if option == b"ID" and len(argv) > 3:
            wanted = {_client_id_argument(raw, "Invalid client ID") for raw in argv[3:]}
            clients = [c for c in clients if c.session.id in wanted]
        elif option == b"TYPE" and len(argv) == 4:
            kind = argv[3].lower()
            if kind not in (b"normal", b"master", b"replica", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{argv[3].decode()}'")
            clients = [c for c in clients if _client_type(c) == kind]
        else:
            raise CommandError(errors.SYNTAX)
    return Verbatim("".join(client_line(c) + "\n" for c in clients).encode())


def _client_kill(conn: Connection, argv: Sequence[bytes]) -> Reply:
    server = conn.server
    if len(argv) == 3:  # the old form: CLIENT KILL addr:port
        for other in list(server.clients.values()):
            if other.address.encode() == argv[2]:
                other.abort()
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2:
        raise CommandError(errors.SYNTAX)
    filters = [(argv[i].upper(), argv[i + 1]) for i in range(2, len(argv), 2)]
    victims = [c for c in server.clients.values() if _kill_matches(conn, c, filters)]
    for victim in victims:
        victim.abort()
    return len(victims)


def _kill_matches(me: Connection, other: Connection, filters: list[tuple[bytes, bytes]]) -> bool:
    skip_me = True
    for option, value in filters:
        if option == b"ID":
            if other.session.id != _client_id_argument(value, _BAD_KILL_ID, 1):
                return False
        elif option == b"ADDR":
            if other.address.encode() != value:
                return False
        elif option == b"LADDR":
            if other.local_address.encode() != value:
                return False
        elif option == b"TYPE":
            if _client_type(other) != value.lower():
                return False
        elif option == b"SKIPME":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(errors.SYNTAX)
            skip_me = value.lower() == b"yes"
        elif option != b"USER" or value != b"default":
            raise CommandError(errors.SYNTAX)
    return not (skip_me and other is me)


def _client_id_argument(raw: bytes, complaint: str, minimum: int | None = None) -> int:
    """A client id argument: an integer (at least `minimum`), or Redis's complaint."""
    try:
        client_id = parse_int(raw)
    except CommandError:
        raise CommandError(f"ERR {complaint}") from None
    if minimum is not None and client_id < minimum:
        raise CommandError(f"ERR {complaint}")
    return client_id


def _client_no_evict(conn: Connection, argv: Sequence[bytes]) -> Reply:
    if argv[2].lower() not in (b"on", b"off"):
        raise CommandError(errors.SYNTAX)
    return OK


def _client_help(conn: Connection, argv: Sequence[bytes]) -> Reply:
    return [
        Status(line)
        for line in (
            b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"ID",
            b"    Return the ID of the current connection.",
            b"INFO",
            b"    Return information about the current client connection.",
            b"KILL <ip:port>",
            b"    Kill connection made from <ip:port>.",
            b"KILL <option> <value> [<option> <value> [...]]",
            b"    Kill connections. Options: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
            b"LIST [TYPE <normal|pubsub>] [ID <id> [<id> ...]]",
            b"    Return information about client connections.",
            b"SETNAME <name>",
            b"    Assign the name <name> to the current connection.",
            b"GETNAME",
            b"    Return the name of the current connection.",
            b"SETINFO <LIB-NAME|LIB-VER> <value>",
            b"    Set client library name or version.",
            b"HELP",
            b"    Print this help.",
        )
    ]


def _client_type(conn: Connection) -> bytes:
    return b"pubsub" if conn.channels or conn.patterns else b"normal"


def client_line(conn: Connection) -> str:
    """One CLIENT LIST line, with Redis 7.0's fields in Redis's order."""
    session = conn.session
    flags = ("b" if conn.blocked else "") + ("x" if session.multi is not None else "")
    flags += "P" if conn.channels or conn.patterns else ""
    return (
        f"id={session.id} addr={conn.address} laddr={conn.local_address} fd={conn.fd} "
        f"name={session.name.decode(errors='replace')} age={int(conn.age_seconds)} "
        f"idle={int(conn.idle_seconds)} flags={flags or 'N'} db=0 sub={len(conn.channels)} "
        f"psub={len(conn.patterns)} ssub=0 "
        f"multi={-1 if session.multi is None else len(session.multi)} "
        f"qbuf={conn.parser.buffered} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 "
        f"oll=0 omem={conn.output_pending} tot-mem=0 events=r "
        f"cmd={conn.last_command.decode(errors='replace').lower()} user=default redir=-1 "
        f"resp={session.resp} lib-name={conn.lib_name.decode()} lib-ver={conn.lib_version.decode()}"
    )


_CLIENT_SUBCOMMANDS = {
    b"id": _client_id,
    b"setname": _client_setname,
    b"getname": _client_getname,
    b"setinfo": _client_setinfo,
    b"info": _client_info,
    b"list": _client_list,
    b"kill": _client_kill,
    b"no-evict": _client_no_evict,
    b"help": _client_help,
}
_CLIENT_ARITY = {
    b"id": 2,
    b"setname": 3,
    b"getname": 2,
    b"setinfo": 4,
    b"info": 2,
    b"list": -2,
    b"kill": -3,
    b"no-evict": 3,
    b"help": 2,
}


# -- pub/sub ------------------------------------------------------------------


def publish(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """PUBLISH channel message"""
    return connection_of(session).server.pubsub.publish(argv[1], argv[2])


def _subscribe(session: Session, argv: Sequence[bytes], *, pattern: bool) -> Reply:
    conn = connection_of(session)
    kind = b"psubscribe" if pattern else b"subscribe"
    for channel in argv[1:]:
        conn.server.pubsub.subscribe(conn, channel, pattern=pattern)
        conn.push(Push([kind, channel, len(conn.channels) + len(conn.patterns)]))
    return NO_REPLY


def _unsubscribe(session: Session, argv: Sequence[bytes], *, pattern: bool) -> Reply:
    conn = connection_of(session)
    kind = b"punsubscribe" if pattern else b"unsubscribe"
    names = list(argv[1:]) or sorted(conn.patterns if pattern else conn.channels)
    if not names:
        conn.push(Push([kind, None, len(conn.channels) + len(conn.patterns)]))
    for channel in names:
        conn.server.pubsub.unsubscribe(conn, channel, pattern=pattern)
        conn.push(Push([kind, channel, len(conn.channels) + len(conn.patterns)]))
    return NO_REPLY


def subscribe(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """SUBSCRIBE channel [channel ...]"""
    return _subscribe(session, argv, pattern=False)


def psubscribe(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """PSUBSCRIBE pattern [pattern ...]"""
    return _subscribe(session, argv, pattern=True)


def unsubscribe(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """UNSUBSCRIBE [channel [channel ...]]"""
    return _unsubscribe(session, argv, pattern=False)


def punsubscribe(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """PUNSUBSCRIBE [pattern [pattern ...]]"""
    return _unsubscribe(session, argv, pattern=True)


def pubsub(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """PUBSUB subcommand [argument ...]"""
    hub = connection_of(session).server.pubsub
    sub = argv[1].lower()
    if sub == b"channels" and len(argv) <= 3:
        pattern = argv[2] if len(argv) == 3 else None
        return [c for c in hub.channels if pattern is None or glob_match(pattern, c)]
    if sub == b"numsub":
        counts: list[Reply] = []
        for channel in argv[2:]:
            counts += [channel, len(hub.channels.get(channel, ()))]
        return counts
    if sub == b"numpat":
        check_subcommand_arity("pubsub", argv, 2)
        return len(hub.patterns)
    if sub == b"channels":
        raise CommandError(
            "ERR unknown subcommand or wrong number of arguments for "
            f"'{argv[1].decode(errors='replace')}'. Try PUBSUB HELP."
        )
    raise CommandError(errors.unknown_subcommand(argv[1], "PUBSUB"))


SUBSCRIBE_FLAGS = "pubsub noscript loading stale no-multi"

COMMANDS = (
    command("auth", -2, "noscript loading stale fast", NO_KEYS, auth, takes_session=True),
    command("hello", -1, "noscript loading stale fast", NO_KEYS, hello, takes_session=True),
    command("select", 2, "loading stale fast", NO_KEYS, select, takes_session=True),
    command("quit", -1, "noscript loading stale fast no-queue", NO_KEYS, quit_, takes_session=True),
    command("reset", 1, "noscript loading stale fast no-queue", NO_KEYS, reset, takes_session=True),
    command("client", -2, "noscript loading stale", NO_KEYS, client, takes_session=True),
    command("publish", 3, "pubsub loading stale fast", NO_KEYS, publish, takes_session=True),
    command("subscribe", -2, SUBSCRIBE_FLAGS, NO_KEYS, subscribe, takes_session=True),
    command("psubscribe", -2, SUBSCRIBE_FLAGS, NO_KEYS, psubscribe, takes_session=True),
    command("unsubscribe", -1, SUBSCRIBE_FLAGS, NO_KEYS, unsubscribe, takes_session=True),
    command("punsubscribe", -1, SUBSCRIBE_FLAGS, NO_KEYS, punsubscribe, takes_session=True),
    command("pubsub", -2, "pubsub loading stale", NO_KEYS, pubsub, takes_session=True),
)
