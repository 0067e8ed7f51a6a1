"""The cluster client on a real Redis Cluster: one redis-server's replies, pipelines and
transactions per slot, redirections followed, and what it refuses."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from queuekit.client.address import CLUSTER_RETRY_FOR_S, parse_cluster_url
from queuekit.client.cluster import AsyncClusterClient, ClusterClient
from queuekit.client.network import NetworkClient
from queuekit.connect import connect, connect_async, describe_url
from queuekit.errors import ResponseError, StoreConnectionError, UsageError, WatchError
from tests.support.redis_cluster import LocalCluster
from tests.support.redis_server import RedisServer, free_port

# One hash tag, so that multi-key commands are legal on the cluster too.
COMMANDS: list[tuple[bytes, ...]] = [
    (b"SET", b"{t}s", b"v"),
    (b"GET", b"{t}s"),
    (b"INCR", b"{t}n"),
    (b"INCRBYFLOAT", b"{t}f", b"1.5"),
    (b"HSET", b"{t}h", b"a", b"1", b"b", b"2"),
    (b"HGETALL", b"{t}h"),
    (b"HMGET", b"{t}h", b"a", b"missing"),
    (b"SADD", b"{t}set", b"x", b"y"),
    (b"SMEMBERS", b"{t}set"),
    (b"ZADD", b"{t}z", b"1.5", b"m", b"2", b"n"),
    (b"ZRANGE", b"{t}z", b"0", b"-1", b"WITHSCORES"),
    (b"ZSCORE", b"{t}z", b"m"),
    (b"RPUSH", b"{t}l", b"a", b"b"),
    (b"LMPOP", b"2", b"{t}none", b"{t}l", b"LEFT", b"COUNT", b"5"),
    (b"BLMPOP", b"0.01", b"1", b"{t}none", b"LEFT"),
    (b"MGET", b"{t}s", b"{t}missing"),
    (b"EXISTS", b"{t}s", b"{t}n", b"{t}missing"),
    (b"GET", b"{t}h"),
    (b"PING",),
    (b"ECHO", b"hi"),
]


@pytest.fixture
def cluster(redis_cluster: LocalCluster) -> Iterator[ClusterClient]:
    """A sync client of the emptied session cluster."""
    redis_cluster.flushall()
    client = connect(redis_cluster.url)
    assert isinstance(client, ClusterClient)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def single(redis_server: RedisServer) -> Iterator[NetworkClient]:
    """A client of the emptied session redis-server."""
    client = connect(f"redis://{redis_server.host}:{redis_server.port}/0")
    assert isinstance(client, NetworkClient)
    client.execute(b"FLUSHALL")
    try:
        yield client
    finally:
        client.close()


def outcome(call: Any) -> Any:
    """A call's reply, or its error as (type, message)."""
    try:
        return call()
    except ResponseError as error:
        return (type(error), error.message)


def test_replies_are_those_of_a_single_redis_server(
    cluster: ClusterClient, single: NetworkClient
) -> None:
    """Command by command, values and types match a network client's of one redis-server."""
    for argv in COMMANDS:
        expected = outcome(lambda argv=argv: single.execute(*argv))
        got = outcome(lambda argv=argv: cluster.execute(*argv))
        assert got == expected, argv
        assert type(got) is type(expected), argv


def plain_pipeline(client: Any) -> list[Any]:
    """Plain commands on many slots and an inline transaction per queue, in one call."""
    pipe = client.pipeline(transaction=False)
    pipe.execute_command(b"SADD", b"qk:queues", b"a", b"b")
    for queue in (b"a", b"b"):
        pipe.execute_command(b"MULTI")
        pipe.execute_command(b"HSET", b"qk:{" + queue + b"}:job:1", b"status", b"queued")
        pipe.execute_command(b"LPUSH", b"qk:{" + queue + b"}:ready:1", b"payload")
        pipe.execute_command(b"EXEC")
    for n in range(5):
        pipe.execute_command(b"INCRBY", f"counter:{n}", n)
    return list(pipe.execute())


def test_a_pipeline_over_many_slots_answers_as_one_store_does(
    cluster: ClusterClient, single: NetworkClient
) -> None:
    """Every node gets its part; the replies come back in order, as from one redis-server."""
    replies = plain_pipeline(cluster)
    assert replies == plain_pipeline(single)
    assert replies[4] == [1, 1]  # the first queue's EXEC
    assert cluster.execute(b"LLEN", b"qk:{b}:ready:1") == 1


def test_a_transaction_across_slots_is_refused_and_nothing_runs(cluster: ClusterClient) -> None:
    """Rule 1: CROSSSLOT before anything is sent."""
    with cluster.pipeline() as pipe:
        pipe.execute_command(b"SET", b"qk:{a}:x", b"1")
        pipe.execute_command(b"SET", b"qk:{b}:x", b"1")
        with pytest.raises(ResponseError, match=r"^CROSSSLOT"):
            pipe.execute()
    assert cluster.execute(b"EXISTS", b"qk:{a}:x") == 0


def test_a_transaction_in_one_slot_runs_atomically(cluster: ClusterClient) -> None:
    """MULTI/EXEC on the slot's node; EXEC's replies come back."""
    with cluster.pipeline() as pipe:
        pipe.execute_command(b"SET", b"qk:{a}:x", b"1")
        pipe.execute_command(b"INCR", b"qk:{a}:x")
        assert pipe.execute() == [b"OK", 2]


def test_a_watch_conflict_raises_watch_error(cluster: ClusterClient) -> None:
    """WATCH pins the slot's node; a write by another client makes EXEC run nothing."""
    key = b"qk:{a}:watched"
    cluster.execute(b"SET", key, b"1")
    with cluster.pipeline() as pipe:
        pipe.watch(key)
        assert pipe.execute_command(b"GET", key) == b"1"
        cluster.execute(b"SET", key, b"2")
        pipe.multi()
        pipe.execute_command(b"SET", key, b"3")
        with pytest.raises(WatchError):
            pipe.execute()
    assert cluster.execute(b"GET", key) == b"2"


def test_under_watch_a_key_of_another_slot_is_refused(cluster: ClusterClient) -> None:
    """Rule 1: the watched connection serves one slot only."""
    with cluster.pipeline() as pipe:
        pipe.watch(b"qk:{a}:x")
        with pytest.raises(ResponseError, match=r"^CROSSSLOT"):
            pipe.execute_command(b"GET", b"qk:{b}:x")


def test_a_command_the_engine_does_not_know_follows_moved(cluster: ClusterClient) -> None:
    """Routed as keyless to any primary; the MOVED reply leads to the right node."""
    keys = [f"hll:{n}" for n in range(30)]  # spread over the three primaries
    assert [cluster.execute(b"PFADD", key, b"x") for key in keys] == [1] * len(keys)
    assert [cluster.execute(b"PFCOUNT", key) for key in keys] == [1] * len(keys)


def test_a_stale_slot_map_is_corrected_by_moved(
    cluster: ClusterClient, redis_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent to the wrong primary, a command and a WATCH follow MOVED to the right one."""
    key = b"qk:{a}:x"
    right = redis_cluster.primary_for(key)
    wrong = next(port for port in redis_cluster.primaries() if port != right)
    monkeypatch.setattr(cluster.topology, "primary", lambda slot: ("127.0.0.1", wrong))
    assert cluster.execute(b"SET", key, b"1") == b"OK"
    with cluster.pipeline() as pipe:
        pipe.watch(key)
        assert pipe.execute_command(b"GET", key) == b"1"
        pipe.multi()
        pipe.execute_command(b"INCR", key)
        assert pipe.execute() == [2]


def test_a_blocking_pop_waits_on_the_node_of_its_slot(cluster: ClusterClient) -> None:
    """BLMPOP blocks on its slot's node and is served by a push from another client."""
    key = b"qk:{late}:ready:1"
    pusher = threading.Timer(0.2, lambda: cluster.execute(b"LPUSH", key, b"job"))
    pusher.start()
    try:
        assert cluster.execute(b"BLMPOP", 30, 1, key, b"RIGHT") == [key, [b"job"]]
    finally:
        pusher.join()


def test_session_commands_on_the_client_are_refused(cluster: ClusterClient) -> None:
    """Rule 5: the client's connections are shared; pipelines hold a session."""
    for argv in ((b"MULTI",), (b"WATCH", b"k"), (b"exec",)):
        with pytest.raises(UsageError, match="pipeline"):
            cluster.execute(*argv)


def test_a_closed_client_refuses_commands(redis_cluster: LocalCluster) -> None:
    """As a closed network client does, rather than opening new connections."""
    client = connect(redis_cluster.url)
    assert client.execute(b"PING") == b"PONG"
    client.close()
    with pytest.raises(UsageError, match="closed"):
        client.execute(b"GET", b"qk:{a}:x")


def test_whole_keyspace_commands_are_refused(cluster: ClusterClient) -> None:
    """KEYS on one node would silently miss the others' keys."""
    with pytest.raises(ResponseError, match="KEYS on a cluster would answer for one node"):
        cluster.execute(b"KEYS", b"*")


def test_the_async_client_runs_commands_pipelines_and_watch(redis_cluster: LocalCluster) -> None:
    """The asyncio twin: the same replies and the same transaction rules."""
    redis_cluster.flushall()

    async def main() -> None:
        async with connect_async(redis_cluster.url) as client:
            assert isinstance(client, AsyncClusterClient)
            assert await client.execute(b"SET", b"qk:{a}:x", b"1") == b"OK"
            plain = client.pipeline(transaction=False)
            for n in range(6):
                plain.execute_command(b"INCR", f"n:{n}")
            assert await plain.execute() == [1] * 6
            pipe = client.pipeline()
            await pipe.watch(b"qk:{a}:x")
            assert await pipe.execute_command(b"GET", b"qk:{a}:x") == b"1"
            await client.execute(b"SET", b"qk:{a}:x", b"2")
            pipe.multi()
            pipe.execute_command(b"SET", b"qk:{a}:x", b"3")
            with pytest.raises(WatchError):
                await pipe.execute()
            pipe = client.pipeline()
            pipe.execute_command(b"GET", b"qk:{a}:x")
            pipe.execute_command(b"GET", b"qk:{b}:x")
            with pytest.raises(ResponseError, match=r"^CROSSSLOT"):
                await pipe.execute()

    asyncio.run(main())


# -- URLs, and a cluster that is not there ---------------------------------------------


def test_a_cluster_url_names_nodes_and_options() -> None:
    """Hosts are listed with commas; options apply to every node; no database but 0."""
    address = parse_cluster_url("redis+cluster://me:s%40cret@a:7000,b,[::1]:7002?timeout=2")
    assert address.nodes == (("a", 7000), ("b", 6379), ("::1", 7002))
    assert (address.node.username, address.node.password) == ("me", "s@cret")
    assert address.node.connect_timeout == 2.0
    assert address.node.retry_for == CLUSTER_RETRY_FOR_S
    assert describe_url("rediss+cluster://me:pw@a:7000,[::1]:7002/0") == (
        "rediss+cluster://a:7000,[::1]:7002"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://a:7000/1", "only database 0"),
        ("redis+cluster://a:7000?db=2", "only database 0"),
        ("redis+cluster://a:x", "'a:x' is not host:port"),
        ("redis+cluster://a:7000,,b:7001", "'' is not host:port"),
        ("redis+cluster://a:7000?color=blue", "unknown option 'color'"),
    ],
)
def test_cluster_url_errors_say_what_is_wrong(url: str, message: str) -> None:
    """Bad input gets an error naming the offending part."""
    with pytest.raises(ValueError, match=message):
        parse_cluster_url(url)


def test_without_redis_py_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py is an optional extra; connecting says which one to install."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(UsageError, match=r"pip install 'queuekit\[cluster\]'"):
        connect("redis+cluster://127.0.0.1:7000")


def test_an_unreachable_cluster_is_reported_after_retry_for() -> None:
    """Rule 3: the client retries for retry_for seconds, then names the cluster."""
    url = f"redis+cluster://127.0.0.1:{free_port()}?retry_for=0.3"
    with connect(url) as client, pytest.raises(StoreConnectionError, match=r"tried for 0\.3 s"):
        client.execute(b"PING")
