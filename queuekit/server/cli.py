"""`queuekit server`: flags, their QUEUEKIT_* twins, and running until a signal.

Precedence: a flag beats its environment variable, which beats the default.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from queuekit.exitcodes import ExitCode
from queuekit.logs import configure_logging
from queuekit.server.config import DEFAULT_PORT, ServerConfig, parse_setting, read_password_file

EPILOG = f"""\
examples:
  queuekit server
      serve on 127.0.0.1:{DEFAULT_PORT}; try `redis-cli -p {DEFAULT_PORT} ping`
  queuekit server --port 7000 --unixsocket /tmp/queuekit.sock --unixsocketperm 770
      also listen on a unix socket that the owner's group may use
  QUEUEKIT_REQUIREPASS_FILE=/etc/queuekit/pass queuekit server --bind 0.0.0.0
      serve the network, with a password (protected mode refuses without one)
  queuekit server --maxmemory 512mb --maxmemory-policy allkeys-lru
      a cache-like store that evicts instead of refusing writes
  queuekit server --timeout 300 --maxclients 1000 --log-format json
  queuekit server --metrics-port 9401
      also serve Prometheus metrics on http://127.0.0.1:9401/metrics
  queuekit server --data-dir /var/lib/queuekit --appendonly yes --appendfsync always
      log every write in /var/lib/queuekit/appendonlydir/, on disk before its reply
  queuekit server --data-dir data --appendonly yes --auto-aof-rewrite-min-size 16mb
      compact the log (BGREWRITEAOF) once it passes 16 MB and has doubled since
  queuekit server --data-dir /var/lib/queuekit
      snapshot to /var/lib/queuekit/dump.qkdb at Redis's save points (and on a clean stop)
  queuekit server --data-dir data --save "60 1000 10 100000"
      snapshot after 1000 changes in a minute or 100000 in 10 s; --save "" only when asked

every flag has an environment twin: --maxmemory-policy is QUEUEKIT_MAXMEMORY_POLICY,
except --metrics-port and --metrics-bind: QUEUEKIT_SERVER_METRICS_PORT and
QUEUEKIT_SERVER_METRICS_BIND (QUEUEKIT_METRICS_PORT is the worker's).
"""

# flag -> ServerConfig field; each also reads its variable, config.env_name(field).
_FLAGS: dict[str, tuple[str, str]] = {
    "--bind": ("bind", "address to listen on (default 127.0.0.1)"),
    "--port": ("port", f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)"),
    "--unixsocket": ("unixsocket", "also listen on this unix socket path"),
    "--unixsocketperm": ("unixsocketperm", "octal permissions of the unix socket (default 700)"),
    "--requirepass": ("requirepass", "password clients must AUTH with (prefer the file form)"),
    "--maxmemory": ("maxmemory", "memory limit, e.g. 100mb or 2gb (default: none)"),
    "--maxmemory-policy": ("maxmemory_policy", "noeviction (default), allkeys-lru, ..."),
    "--maxclients": ("maxclients", "most clients connected at once (default 10000)"),
    "--timeout": ("timeout", "close clients idle this many seconds (default 0: never)"),
    "--protected-mode": (
        "protected_mode",
        "yes (default) or no: refuse to serve beyond loopback without a password",
    ),
    "--log-format": ("log_format", "auto (default), console or json"),
    "--metrics-port": ("metrics_port", "serve Prometheus /metrics on this port (default: off)"),
    "--metrics-bind": ("metrics_bind", "address of the metrics endpoint (default 127.0.0.1)"),
    "--data-dir": ("data_dir", "directory of the persistence files (default: none)"),
    "--appendonly": ("appendonly", "yes or no (default): log every write in DIR/appendonlydir"),
    "--appendfsync": (
        "appendfsync",
        "always (on disk before the reply), everysec (default) or no (the OS decides)",
    ),
    "--auto-aof-rewrite-percentage": (
        "auto_aof_rewrite_percentage",
        "rewrite the AOF once it grew this many percent since the last rewrite "
        "(default 100; 0: never)",
    ),
    "--auto-aof-rewrite-min-size": (
        "auto_aof_rewrite_min_size",
        "...and is larger than this many bytes, e.g. 16mb (default 64mib)",
    ),
    "--save": (
        "save",
        'snapshot DIR/dump.qkdb after CHANGES writes in SECONDS: "SECONDS CHANGES ..." '
        '(default with --data-dir: "3600 1 300 100 60 10000"; "": none)',
    ),
    "--stop-writes-on-bgsave-error": (
        "stop_writes_on_bgsave_error",
        "yes (default) or no: refuse writes (MISCONF) while the last background save failed",
    ),
}


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `server` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "server",
        help="serve the embedded store over the Redis protocol",
        description="Serve the embedded store over the Redis protocol (RESP2 and RESP3).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, (field, help_text) in _FLAGS.items():
        parser.add_argument(flag, dest=field, metavar=field.split("_")[-1].upper(), help=help_text)
    parser.add_argument(
        "--requirepass-file", metavar="PATH", help="read the password from this file"
    )
    parser.set_defaults(handler=main)
    return parser


def config_from(args: argparse.Namespace) -> ServerConfig:
    """The environment's settings, overridden by the flags that were given."""
    changes: dict[str, Any] = ServerConfig.env_values()
    for field, _ in _FLAGS.values():
        raw = getattr(args, field)
        if raw is not None:
            changes[field] = parse_setting(field, raw)
    if args.requirepass_file:
        changes["requirepass"] = read_password_file(args.requirepass_file)
    return ServerConfig(**changes)


def main(args: argparse.Namespace) -> ExitCode:
    try:
        config = config_from(args)
    except (ValueError, OSError) as error:
        print(f"queuekit server: {error}", file=sys.stderr)
        return ExitCode.USAGE
    configure_logging(config.log_format)
    # Imported here: every `queuekit` command builds this parser, few run the server.
    import anyio

    from queuekit.errors import PersistenceError
    from queuekit.server.app import ConfigurationError, run

    try:
        anyio.run(run, config, backend_options=event_loop_options())
    except (ConfigurationError, PersistenceError) as error:
        # A corrupt append only file lands here: the message names file and offset.
        print(f"queuekit server: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    except OSError as error:  # the port is taken, the socket path is not writable...
        print(f"queuekit server: cannot listen: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


def event_loop_options() -> dict[str, Any]:
    """anyio's asyncio options: uvloop when it is installed (the `fast` extra).

    Measured here with redis-benchmark -c50: 5-10% more commands per second,
    pipelined or not. The server runs on either loop; INFO's server section
    says which (`queuekit_event_loop`).
    """
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}
