"""Redis's own tools work against the server: redis-cli (one-shot, RESP3, --pipe) and
redis-benchmark."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer, require_binary

pytestmark = pytest.mark.redis

TOOL_TIMEOUT_S = 120


def redis_cli(port: int, *args: str, stdin: bytes | None = None) -> str:
    """redis-cli's standard output for one invocation; fails on a non-zero exit."""
    binary = require_binary("redis-cli")
    result = subprocess.run(
        [binary, "-h", "127.0.0.1", "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode(errors="replace")


# (redis-cli options and command), run in order on a fresh keyspace.
ONE_SHOT = [
    ("set", "a", "b"),
    ("get", "a"),
    ("--raw", "get", "a"),
    ("--no-raw", "get", "a"),
    ("--no-raw", "get", "missing"),
    ("--no-raw", "incr", "n"),
    ("--no-raw", "incrbyfloat", "f", "1.5"),
    ("--no-raw", "rpush", "l", "x", "y z"),
    ("--no-raw", "lrange", "l", "0", "-1"),
    ("--no-raw", "hset", "h", "field", "value"),
    ("--no-raw", "hgetall", "h"),
    ("--no-raw", "-3", "hgetall", "h"),
    ("--no-raw", "-3", "get", "missing"),
    ("--no-raw", "-3", "sismember", "s", "x"),
    ("--no-raw", "-3", "incrbyfloat", "f", "1"),
    ("--no-raw", "lpush", "a", "x"),
    ("--no-raw", "nosuch", "arg"),
    ("--no-raw", "exists", "a", "l", "h"),
    ("--no-raw", "dbsize"),
    ("--no-raw", "type", "h"),
]


def test_one_shot_commands_print_as_on_redis(
    queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """redis-cli prints the same for each one-shot command on both servers."""
    redis_cli(redis_server.port, "flushall")
    mismatches = []
    for args in ONE_SHOT:
        expected = redis_cli(redis_server.port, *args)
        actual = redis_cli(queuekit_server.port, *args)
        if expected != actual:
            mismatches.append(f"{' '.join(args)}: redis {expected!r} != queuekit {actual!r}")
    assert not mismatches, "\n".join(mismatches)
    assert redis_cli(queuekit_server.port, "--raw", "get", "a") == "b\n"


def test_info_keyspace(queuekit_server: RunningServer) -> None:
    """`redis-cli info keyspace` shows the keys and the expiring ones."""
    redis_cli(queuekit_server.port, "mset", "k1", "v", "k2", "v")
    redis_cli(queuekit_server.port, "expire", "k1", "100")
    lines = redis_cli(queuekit_server.port, "info", "keyspace").splitlines()
    assert lines[0] == "# Keyspace"
    assert lines[1].startswith("db0:keys=2,expires=1,avg_ttl=")


def test_mass_insertion_with_pipe(tmp_path: Path, queuekit_server: RunningServer) -> None:
    """`redis-cli --pipe` inserts 100,000 commands with no errors, every one answered."""
    count = 100_000
    frames = []
    for i in range(count):
        key, value = b"key:%d" % i, b"value:%d" % i
        frames.append(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
        )
    data = tmp_path / "mass.resp"
    data.write_bytes(b"".join(frames))
    output = redis_cli(queuekit_server.port, "--pipe", stdin=data.read_bytes())
    assert f"errors: 0, replies: {count}" in output
    assert redis_cli(queuekit_server.port, "dbsize") == f"{count}\n"
    assert redis_cli(queuekit_server.port, "--raw", "get", "key:0") == "value:0\n"
    assert redis_cli(queuekit_server.port, "--raw", "get", "key:99999") == "value:99999\n"


BENCHMARKED = "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset"


def test_redis_benchmark_runs_every_test_without_errors(queuekit_server: RunningServer) -> None:
    """redis-benchmark completes each of its tests with no error reply."""
    binary = require_binary("redis-benchmark")
    result = subprocess.run(
        [binary, "-p", str(queuekit_server.port), "-t", BENCHMARKED, "-n", "10000", "-q"],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )
    output = (result.stdout + result.stderr).decode(errors="replace").replace("\r", "\n")
    assert result.returncode == 0, output
    assert "rror" not in output, output
    finished = [line for line in output.splitlines() if "requests per second" in line]
    for test in ["PING_INLINE", "SET", "GET", "INCR", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN"]:
        assert any(line.strip().startswith(f"{test}:") for line in finished), output
    assert any("LRANGE_100" in line for line in finished), output
    assert any("MSET" in line for line in finished), output
