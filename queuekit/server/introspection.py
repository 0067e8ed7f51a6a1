"""INFO, CONFIG and COMMAND: what tools ask a server about itself.

COMMAND's answers are generated from the command table (arity, flags, key
positions) and the handlers' docstrings (syntax), so they cannot drift from
what the dispatcher enforces.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from queuekit import __version__
from queuekit.engine import errors
from queuekit.engine.command import Command, command
from queuekit.engine.commands.server import SECTIONS
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match
from queuekit.engine.replies import OK, Reply, Status, Verbatim
from queuekit.persistence.savepoints import format_save_points
from queuekit.server.commands import check_subcommand_arity, connection_of
from queuekit.server.config import ServerConfig, parse_setting
from queuekit.server.syntax import syntax_arguments

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session
    from queuekit.server.app import Server

# The Redis version queuekit answers like; tools read it from INFO.
REDIS_COMPATIBLE_VERSION = "7.0.15"


def _server(session: Session) -> Server:
    return connection_of(session).server


# -- INFO -------------------------------------------------------------------------


def server_section(server: Server) -> str:
    config = server.config
    uptime = int(server.engine.clock.now_ms() / 1000 - server.started_at)
    return (
        "# Server\r\n"
        f"redis_version:{REDIS_COMPATIBLE_VERSION}\r\n"
        f"queuekit_version:{__version__}\r\n"
        f"queuekit_event_loop:{server.event_loop}\r\n"
        "redis_mode:standalone\r\n"
        f"os:{sys.platform}\r\n"
        "arch_bits:64\r\n"
        f"process_id:{os.getpid()}\r\n"
        f"tcp_port:{server.listening.port if server.listening else config.port}\r\n"
        f"uptime_in_seconds:{uptime}\r\n"
        f"uptime_in_days:{uptime // 86400}\r\n"
        f"hz:{config.hz}\r\n"
        f"executable:{sys.executable}\r\n"
    )


def clients_section(server: Server) -> str:
    return (
        "# Clients\r\n"
        f"connected_clients:{len(server.clients)}\r\n"
        f"maxclients:{server.config.maxclients}\r\n"
        f"blocked_clients:{server.blocked_clients}\r\n"
        f"pubsub_clients:{sum(1 for c in server.clients.values() if c.channels or c.patterns)}\r\n"
    )


def persistence_section(server: Server) -> str:
    # Loading happens before the server listens, so no client ever sees loading:1.
    text = "# Persistence\r\nloading:0\r\n"
    aof, directory = server.aof, server.aof_dir
    fields: dict[str, object] = {
        **server.snapshots.info(),
        "aof_enabled": int(aof is not None),
        **server.rewriter.info(),
    }
    if aof is not None and directory is not None:
        fields |= aof.info()
        fsynced = fields["aof_last_fsync_time"]
        # Unix seconds as Redis's *_time fields; -1 before the first fsync.
        fields["aof_last_fsync_time"] = -1 if fsynced is None else int(cast(float, fsynced))
        fields["aof_current_size"] = directory.current_size  # the base and every incr
        fields["aof_base_size"] = directory.base_size
    return text + "".join(f"{name}:{value}\r\n" for name, value in fields.items())


def stats_section(server: Server) -> str:
    text = SECTIONS[b"stats"](server.engine)
    return text + (
        f"total_connections_received:{server.connections_received}\r\n"
        f"rejected_connections:{server.rejected_connections}\r\n"
        f"pubsub_channels:{len(server.pubsub.channels)}\r\n"
        f"pubsub_patterns:{len(server.pubsub.patterns)}\r\n"
        f"latest_fork_usec:{server.latest_fork_usec}\r\n"
    )


def _engine_section(name: bytes) -> Callable[[Server], str]:
    return lambda server: SECTIONS[name](server.engine)


# Redis's order of sections.
SERVER_SECTIONS: dict[bytes, Callable[[Server], str]] = {
    b"server": server_section,
    b"clients": clients_section,
    b"memory": _engine_section(b"memory"),
    b"persistence": persistence_section,
    b"stats": stats_section,
    b"keyspace": _engine_section(b"keyspace"),
}
_EVERYTHING = {b"all", b"everything", b"default"}


def info(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """INFO [section [section ...]]"""
    server = _server(session)
    wanted = {arg.lower() for arg in argv[1:]}
    every = not wanted or not wanted.isdisjoint(_EVERYTHING)
    texts = [write(server) for name, write in SERVER_SECTIONS.items() if every or name in wanted]
    return Verbatim("\r\n".join(texts).encode())


# -- CONFIG -----------------------------------------------------------------------

# Redis's parameter names for the settings clients may read, and which may change.
_PARAMETERS = {
    "bind": "bind",
    "port": "port",
    "unixsocket": "unixsocket",
    "unixsocketperm": "unixsocketperm",
    "requirepass": "requirepass",
    "maxmemory": "maxmemory",
    "maxmemory-policy": "maxmemory_policy",
    "maxclients": "maxclients",
    "timeout": "timeout",
    "protected-mode": "protected_mode",
    "hz": "hz",
    "dir": "data_dir",
    "appendonly": "appendonly",
    "appendfsync": "appendfsync",
    "auto-aof-rewrite-percentage": "auto_aof_rewrite_percentage",
    "auto-aof-rewrite-min-size": "auto_aof_rewrite_min_size",
    "save": "save",
    "stop-writes-on-bgsave-error": "stop_writes_on_bgsave_error",
    "key-save-delay": "key_save_delay",
}
_MUTABLE = {
    "requirepass",
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "timeout",
    "protected-mode",
    "hz",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "save",
    "stop-writes-on-bgsave-error",
    "key-save-delay",
}
# Fixed answers for parameters tools ask about.
_FIXED = {"databases": "1"}


def _setting_text(config: ServerConfig, name: str) -> str:
    if name == "save":  # the points in force, Redis's default included
        return format_save_points(config.save_points)
    value = getattr(config, _PARAMETERS[name])
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "unixsocketperm":
        return format(value, "o")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def config(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """CONFIG subcommand [argument ...]"""
    server = _server(session)
    sub = argv[1].lower()
    arity = _CONFIG_ARITY.get(sub)
    if arity is None:
        raise CommandError(errors.unknown_subcommand(argv[1], "CONFIG"))
    check_subcommand_arity("config", argv, arity)
    if sub == b"get":
        return _config_get(server, argv[2:])
    if sub == b"set":
        if len(argv) % 2:
            raise CommandError(errors.SYNTAX)
        return _config_set(server, argv[2:])
    server.engine.reset_stats()
    return OK


_CONFIG_ARITY = {b"get": -3, b"set": -4, b"resetstat": 2}


def _config_get(server: Server, patterns: Sequence[bytes]) -> Reply:
    found: dict[bytes, bytes] = {}
    names = [*_PARAMETERS, *_FIXED]
    for pattern in patterns:
        for name in names:
            if glob_match(pattern.lower(), name.encode()):
                text = _FIXED.get(name)
                if text is None:
                    text = _setting_text(server.config, name)
                found[name.encode()] = text.encode()
    return found


def _config_set(server: Server, arguments: Sequence[bytes]) -> Reply:
    changes: dict[str, object] = {}
    for raw_name, raw_value in zip(arguments[0::2], arguments[1::2], strict=True):
        name = raw_name.decode(errors="replace").lower()
        if name not in _MUTABLE:
            raise CommandError(
                f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )
        field_name = _PARAMETERS[name]
        try:
            changes[field_name] = parse_setting(field_name, raw_value.decode())
            if name == "requirepass" and not raw_value:
                changes[field_name] = None
        except ValueError as error:
            raise CommandError(
                f"ERR CONFIG SET failed (possibly related to argument '{name}') - {error}"
            ) from None
    try:
        new = server.config.with_overrides(**changes)
    except ValueError as error:
        raise CommandError(f"ERR CONFIG SET failed - {error}") from None
    server.apply_config(new)
    return OK


# -- COMMAND ----------------------------------------------------------------------

_CATEGORY_BY_MODULE = {
    "keys": "@keyspace",
    "strings": "@string",
    "lists": "@list",
    "sets": "@set",
    "zsets": "@sortedset",
    "hashes": "@hash",
    "transactions": "@transaction",
    "server": "@connection",
    "commands": "@connection",
    "introspection": "@admin",
    "snapshots": "@admin",
}
_CATEGORY_BY_FLAG = {
    "write": "@write",
    "readonly": "@read",
    "fast": "@fast",
    "blocking": "@blocking",
    "pubsub": "@pubsub",
    "admin": "@admin",
}
_GROUP_BY_MODULE = {
    "keys": "generic",
    "strings": "string",
    "lists": "list",
    "sets": "set",
    "zsets": "sorted_set",
    "hashes": "hash",
    "transactions": "transactions",
    "server": "connection",
    "commands": "connection",
    "introspection": "server",
    "aofrewrite": "server",
    "snapshots": "server",
}
_INTERNAL_FLAGS = {"no-queue", "pubsub", "no-multi"}


def _module(cmd: Command) -> str:
    return str(getattr(cmd.handler, "__module__", "")).rsplit(".", 1)[-1]


def command_info(cmd: Command) -> Reply:
    flags = sorted(cmd.flags - _INTERNAL_FLAGS)
    categories = [_CATEGORY_BY_FLAG[f] for f in sorted(cmd.flags) if f in _CATEGORY_BY_FLAG]
    category = _CATEGORY_BY_MODULE.get(_module(cmd))
    if category:
        categories.append(category)
    return [
        cmd.name.encode(),
        cmd.arity,
        {Status(flag.encode()) for flag in flags},
        cmd.first_key,
        cmd.last_key,
        cmd.key_step,
        {Status(category.encode()) for category in categories},
        [],
        [],
        [],
    ]


def command_docs(cmd: Command) -> Reply:
    doc = (getattr(cmd.handler, "__doc__", None) or cmd.name.upper()).strip()
    syntax = " ".join(doc.split("\n\n", 1)[0].split())
    return {
        b"summary": syntax.encode(),
        b"since": b"1.0.0",
        b"group": _GROUP_BY_MODULE.get(_module(cmd), "generic").encode(),
        b"arguments": _as_reply(syntax_arguments(syntax)),
    }


def _as_reply(value: Any) -> Reply:
    """Text as bulk strings, all the way down (the encoder speaks bytes)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict):
        return {key.encode(): _as_reply(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_reply(item) for item in value]
    return value


def _unique_commands(engine: Engine) -> list[Command]:
    return sorted({id(c): c for c in engine.commands.values()}.values(), key=lambda c: c.name)


def command_(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """COMMAND [subcommand [argument ...]]"""
    every = _unique_commands(engine)
    if len(argv) == 1:
        return [command_info(cmd) for cmd in every]
    sub = argv[1].lower()
    if sub in _COMMAND_ARITY:
        check_subcommand_arity("command", argv, _COMMAND_ARITY[sub])
    if sub == b"count":
        return len(every)
    if sub == b"list":
        return [cmd.name.encode() for cmd in every]
    if sub == b"info":
        wanted = argv[2:] or [cmd.name.encode() for cmd in every]
        return [_info_or_none(engine, name) for name in wanted]
    if sub == b"docs":
        chosen = (
            every
            if len(argv) == 2
            else [
                cmd for name in argv[2:] if (cmd := engine.commands.get(name.lower())) is not None
            ]
        )
        return {cmd.name.encode(): command_docs(cmd) for cmd in chosen}
    raise CommandError(errors.unknown_subcommand(argv[1], "COMMAND"))


_COMMAND_ARITY = {b"count": 2, b"list": -2, b"info": -2, b"docs": -2}


def _info_or_none(engine: Engine, name: bytes) -> Reply:
    cmd = engine.commands.get(name.lower())
    return None if cmd is None else command_info(cmd)


COMMANDS = (
    command("info", -1, "loading stale", (0, 0, 0), info, takes_session=True),
    command("config", -2, "admin noscript loading stale", (0, 0, 0), config, takes_session=True),
    command("command", -1, "loading stale", (0, 0, 0), command_, takes_session=True),
)
