"""The server's settings: one frozen dataclass, from flags or QUEUEKIT_* variables.

Defaults are Redis's where Redis has one, except the port: 6390, so a
queuekit server never collides with a Redis on 6379. Sizes are bytes,
durations seconds. Nothing here reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from queuekit.engine.engine import EVICTION_POLICIES
from queuekit.persistence.aof import FSYNC_POLICIES
from queuekit.persistence.savepoints import (
    DEFAULT_SAVE_POINTS,
    SavePoint,
    format_save_points,
    parse_save_points,
)
from queuekit.persistence.snapshot import SNAPSHOT_NAME
from queuekit.resp.limits import Limits

DEFAULT_PORT = 6390
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: let the OS pick one (tests)
    unixsocket: str | None = None
    unixsocketperm: int = 0o700
    requirepass: str | None = None
    maxmemory: int = 0  # bytes; 0: no limit
    maxmemory_policy: str = "noeviction"
    maxclients: int = 10000
    timeout: float = 0.0  # close clients idle this many seconds; 0: never
    protected_mode: bool = True
    # A client whose unread replies pass this many bytes is disconnected
    # (Redis's client-output-buffer-limit, as a hard limit for every client).
    output_buffer_limit: int = 64 * MiB
    # A client whose unparsed input passes this is disconnected
    # (Redis's client-query-buffer-limit).
    query_buffer_limit: int = 1024 * MiB
    limits: Limits = field(default_factory=Limits)
    log_format: str = "auto"  # auto | console | json
    hz: int = 10  # background cycles a second (expiry, idle clients)
    metrics_port: int | None = None  # serve /metrics here (0: any free port); None: off
    metrics_bind: str = "127.0.0.1"
    # Persistence (issue 7): none unless a data directory is given.
    data_dir: str | None = None  # where appendonlydir/ and dump.qkdb live
    appendonly: bool = False
    appendfsync: str = "everysec"  # always | everysec | no, as Redis's
    # Rewrite the AOF once it has grown by this many percent since the last
    # rewrite and is larger than the min size (Redis's defaults); 0: never.
    auto_aof_rewrite_percentage: int = 100
    auto_aof_rewrite_min_size: int = 64 * MiB
    # Snapshot save points; None: Redis's default when data_dir is set, else none.
    save: tuple[SavePoint, ...] | None = None
    # Refuse writes (MISCONF) while the last background save has failed, as Redis's.
    stop_writes_on_bgsave_error: bool = True
    # Seconds a snapshot or rewrite child sleeps after each key it writes: a test
    # hook that makes one slow enough to kill midway (Redis's rdb-key-save-delay).
    key_save_delay: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.maxmemory_policy not in EVICTION_POLICIES:
            raise ValueError(
                f"maxmemory-policy {self.maxmemory_policy!r} is not one of "
                f"{', '.join(EVICTION_POLICIES)}"
            )
        if self.maxmemory < 0:
            raise ValueError(f"maxmemory must be >= 0 bytes, got {self.maxmemory}")
        if self.maxclients < 1:
            raise ValueError(f"maxclients must be >= 1, got {self.maxclients}")
        if self.timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {self.timeout}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics port must be 0-65535, got {self.metrics_port}")
        if self.log_format not in ("auto", "console", "json"):
            raise ValueError(f"log format must be auto, console or json, got {self.log_format!r}")
        if self.appendfsync not in FSYNC_POLICIES:
            raise ValueError(
                f"appendfsync {self.appendfsync!r} is not one of {', '.join(FSYNC_POLICIES)}"
            )
        if self.save and not self.data_dir:
            raise ValueError(
                f"--save {format_save_points(self.save)!r} needs --data-dir DIR "
                "(QUEUEKIT_DATA_DIR): the snapshot is DIR/dump.qkdb"
            )
        if self.key_save_delay < 0:
            raise ValueError(f"key-save-delay must be >= 0 seconds, got {self.key_save_delay}")
        self._check_aof_rewrite()
        if self.appendonly and not self.data_dir:
            raise ValueError(
                "--appendonly yes needs --data-dir DIR (QUEUEKIT_DATA_DIR): "
                "the append only files are in DIR/appendonlydir"
            )

    def _check_aof_rewrite(self) -> None:
        if self.auto_aof_rewrite_percentage < 0:
            raise ValueError(
                "auto-aof-rewrite-percentage must be >= 0 (0: no automatic rewrite), "
                f"got {self.auto_aof_rewrite_percentage}"
            )
        if self.auto_aof_rewrite_min_size < 0:
            raise ValueError(
                "auto-aof-rewrite-min-size must be >= 0 bytes, "
                f"got {self.auto_aof_rewrite_min_size}"
            )

    @property
    def save_points(self) -> tuple[SavePoint, ...]:
        """The save points in force (savepoints rule 2)."""
        if self.save is not None:
            return self.save
        return parse_save_points(DEFAULT_SAVE_POINTS) if self.data_dir else ()

    @property
    def snapshot_path(self) -> Path | None:
        """DIR/dump.qkdb, when there is a data directory."""
        return None if self.data_dir is None else Path(self.data_dir) / SNAPSHOT_NAME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """Settings from QUEUEKIT_* variables (QUEUEKIT_PORT, QUEUEKIT_REQUIREPASS...)."""
        return cls(**cls.env_values(environ))  # type: ignore[arg-type]

    @classmethod
    def env_values(cls, environ: Mapping[str, str] | None = None) -> dict[str, object]:
        """The settings QUEUEKIT_* variables give, parsed but not yet checked together.

        The CLI merges its flags into these before building the config, so a
        check across settings (appendonly needs a data dir) sees both sources.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = env.get(env_name(spec.name))
            if raw is not None and spec.name != "limits":
                values[spec.name] = parse_setting(spec.name, raw)
        password_file = env.get("QUEUEKIT_REQUIREPASS_FILE")
        if password_file and "requirepass" not in values:
            values["requirepass"] = read_password_file(password_file)
        return values

    def with_overrides(self, **changes: Any) -> ServerConfig:
        """A copy with the given settings changed (CLI flags win over the environment)."""
        return replace(self, **changes)


# Settings whose variable is not QUEUEKIT_<FIELD>: the worker's QUEUEKIT_METRICS_PORT
# is its own endpoint's, and both may be set in one environment.
_ENV_NAMES = {
    "metrics_port": "QUEUEKIT_SERVER_METRICS_PORT",
    "metrics_bind": "QUEUEKIT_SERVER_METRICS_BIND",
}


def env_name(setting: str) -> str:
    """The environment variable of a ServerConfig field."""
    return _ENV_NAMES.get(setting) or f"QUEUEKIT_{setting.upper()}"


def read_password_file(path: str) -> str:
    text = Path(path).read_text().strip()
    if not text:
        raise ValueError(f"password file {path} is empty")
    return text


_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}
# Redis's memtoll: a bare k/m/g is a power of 1000, kb/mb/gb a power of 1024
# (redis.conf: "1k => 1000 bytes, 1kb => 1024 bytes"); kib/mib/gib say so plainly.
_UNITS = {
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "kb": 1024,
    "mb": 1024**2,
    "gb": 1024**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_size(raw: str) -> int:
    """Redis-style memory sizes: 100, 100mb, 1gb, 64mib (case-insensitive)."""
    text = raw.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)]
            if number.isdigit():
                return int(number) * _UNITS[unit]
    if text.isdigit():
        return int(text)
    raise ValueError(f"invalid size {raw!r}: use bytes, or a number with kb/mb/gb/kib/mib/gib")


def parse_setting(name: str, raw: str) -> object:
    """One setting's text (a flag, an env variable, CONFIG SET) as its Python value."""
    if name == "save":
        return parse_save_points(raw)
    if name in ("port", "maxclients", "hz", "metrics_port", "auto_aof_rewrite_percentage"):
        return int(raw)
    if name == "unixsocketperm":
        return int(raw, 8)
    if name in (
        "maxmemory",
        "output_buffer_limit",
        "query_buffer_limit",
        "auto_aof_rewrite_min_size",
    ):
        return parse_size(raw)
    if name in ("timeout", "key_save_delay"):
        return float(raw)
    if name in ("protected_mode", "appendonly", "stop_writes_on_bgsave_error"):
        try:
            return _BOOLEANS[raw.strip().lower()]
        except KeyError:
            flag = name.replace("_", "-")
            raise ValueError(f"{flag} must be yes or no, got {raw!r}") from None
    return raw
