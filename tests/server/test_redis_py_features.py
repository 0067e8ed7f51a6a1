"""What redis-py users do beyond single commands: pipelines, transactions, pub/sub,
blocking pops, and the connection commands (CLIENT, HELLO, SELECT, CONFIG, COMMAND,
RESET, QUIT), each through the queuekit server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis
import redis.asyncio

from tests.server.clients import VARIANT_IDS, VARIANTS, async_client, sync_client
from tests.server.conftest import ServerFactory
from tests.server.rawclient import wait_for
from tests.support import wire
from tests.support.queuekit_server import RunningServer

WAIT_S = 10.0


def next_message(pubsub: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        if message is not None:
            return dict(message)
    pytest.fail("no pub/sub message arrived")


# -- pipelines and transactions ---------------------------------------------------


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_pipeline_returns_every_reply_in_order(
    protocol: int, parser: str, queuekit_server: RunningServer
) -> None:
    """A non-transactional pipeline's replies come back in order, errors in place."""
    r = sync_client(queuekit_server.port, protocol, parser)
    try:
        with r.pipeline(transaction=False) as pipe:
            pipe.set("a", "1").incr("a").lpush("a", "x").get("a").hset("h", "f", "v")
            pipe.hgetall("h")
            results = pipe.execute(raise_on_error=False)
        assert results[:2] == [True, 2]
        assert isinstance(results[2], redis.ResponseError)
        assert str(results[2]).startswith("WRONGTYPE")
        assert results[3:] == [b"2", 1, {b"f": b"v"}]
    finally:
        r.close()


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_transaction_pipeline_runs_atomically(
    protocol: int, parser: str, queuekit_server: RunningServer
) -> None:
    """A transactional pipeline wraps its commands in MULTI/EXEC and returns EXEC's array."""
    r = sync_client(queuekit_server.port, protocol, parser)
    try:
        with r.pipeline() as pipe:
            results = pipe.rpush("q", "a", "b").lpop("q").llen("q").execute()
        assert results == [2, b"a", 1]
        with (
            r.pipeline() as pipe,
            pytest.raises(redis.ResponseError, match=r"unknown command .NOSUCH."),
        ):
            pipe.set("k", "v").execute_command("NOSUCH").execute()
        assert r.get("k") is None
    finally:
        r.close()


def test_watch_conflict_raises_and_retry_succeeds(queuekit_server: RunningServer) -> None:
    """A WATCHed key changed by another client aborts EXEC; the retry then succeeds."""
    r = sync_client(queuekit_server.port)
    other = sync_client(queuekit_server.port)
    try:
        r.set("counter", 10)
        attempts = 0
        with r.pipeline() as pipe:
            while True:
                attempts += 1
                try:
                    pipe.watch("counter")
                    value = int(pipe.get("counter"))
                    if attempts == 1:
                        other.incr("counter")  # a concurrent writer wins the race once
                    pipe.multi()
                    pipe.set("counter", value * 2)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        assert attempts == 2
        assert r.get("counter") == b"22"
        assert r.transaction(lambda p: (p.multi(), p.incr("counter")), "counter") == [23]
    finally:
        r.close()
        other.close()


def test_asyncio_pipeline_and_transaction(queuekit_server: RunningServer) -> None:
    """The asyncio client's pipelines and WATCH conflicts behave as the sync ones."""

    async def scenario() -> None:
        r = async_client(queuekit_server.port, 3)
        other = async_client(queuekit_server.port, 3)
        try:
            async with r.pipeline() as pipe:
                assert await pipe.set("x", 1).incrbyfloat("x", 0.5).execute() == [True, 1.5]
            async with r.pipeline() as pipe:
                await pipe.watch("x")
                await other.set("x", "changed")
                pipe.multi()
                pipe.set("x", "mine")
                with pytest.raises(redis.WatchError):
                    await pipe.execute()
            assert await r.get("x") == b"changed"
        finally:
            await r.aclose()
            await other.aclose()

    asyncio.run(scenario())


# -- pub/sub ------------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_pubsub_channels_and_patterns(
    protocol: int, parser: str, queuekit_server: RunningServer
) -> None:
    """SUBSCRIBE, PSUBSCRIBE, PUBLISH, PUBSUB and UNSUBSCRIBE through redis-py's PubSub."""
    r = sync_client(queuekit_server.port, protocol, parser)
    p = r.pubsub()
    try:
        p.subscribe("news")
        assert next_message(p) == {
            "type": "subscribe",
            "pattern": None,
            "channel": b"news",
            "data": 1,
        }
        p.psubscribe("n*")
        assert next_message(p)["data"] == 2
        assert r.pubsub_channels() == [b"news"]
        assert r.pubsub_numsub("news", "other") == [(b"news", 1), (b"other", 0)]
        assert r.pubsub_numpat() == 1
        assert r.publish("news", "hello") == 2
        received = [next_message(p), next_message(p)]
        assert {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"} in (
            received
        )
        assert {"type": "pmessage", "pattern": b"n*", "channel": b"news", "data": b"hello"} in (
            received
        )
        p.unsubscribe("news")
        assert next_message(p) == {
            "type": "unsubscribe",
            "pattern": None,
            "channel": b"news",
            "data": 1,
        }
        p.punsubscribe()
        assert next_message(p)["type"] == "punsubscribe"
        assert r.publish("news", "nobody") == 0
        assert r.pubsub_channels() == []
    finally:
        p.close()
        r.close()


def test_pubsub_ping_while_subscribed(queuekit_server: RunningServer) -> None:
    """PING on a subscribed RESP2 connection answers Redis's ["pong", arg] array."""
    with queuekit_server.connect() as sock, sock.makefile("rb") as stream:
        sock.sendall(b"SUBSCRIBE c\r\nPING\r\nPING hi\r\nGET k\r\n")
        assert wire.read_reply(stream)[0] == "*"
        assert wire.read_reply(stream) == ("*", [("$", b"pong"), ("$", b"")])
        assert wire.read_reply(stream) == ("*", [("$", b"pong"), ("$", b"hi")])
        assert wire.read_reply(stream) == (
            "-",
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
            "RESET are allowed in this context",
        )


def test_asyncio_pubsub_resp3(queuekit_server: RunningServer) -> None:
    """The asyncio PubSub receives RESP3 pushes as messages."""

    async def scenario() -> None:
        r = async_client(queuekit_server.port, 3)
        p = r.pubsub()
        try:
            await p.subscribe("jobs")
            first = await p.get_message(timeout=WAIT_S)
            assert first is not None and first["type"] == "subscribe"
            assert await r.publish("jobs", "go") == 1
            message = None
            for _ in range(50):
                message = await p.get_message(timeout=1.0)
                if message is not None:
                    break
            assert message is not None and message["data"] == b"go"
        finally:
            await p.aclose()
            await r.aclose()

    asyncio.run(scenario())


# -- blocking pops ------------------------------------------------------------------


def test_blpop_times_out_with_none(queuekit_server: RunningServer) -> None:
    """BLPOP on an empty list answers None once its timeout has passed."""
    r = sync_client(queuekit_server.port)
    try:
        started = time.monotonic()
        assert r.blpop(["nothing"], timeout=0.3) is None
        assert time.monotonic() - started >= 0.2
        assert queuekit_server.blocked_count() == 0
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_blpop_is_woken_by_a_push_from_another_client(
    protocol: int, queuekit_server: RunningServer
) -> None:
    """A client blocked in BLPOP gets the element another client pushes."""
    waiter = sync_client(queuekit_server.port, protocol)
    pusher = sync_client(queuekit_server.port, protocol)
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(waiter.blpop(["q"], timeout=20)))
    try:
        thread.start()
        wait_for(lambda: queuekit_server.blocked_count() == 1, "BLPOP to block")
        assert pusher.rpush("q", "job") == 1
        thread.join(WAIT_S)
        assert result == [(b"q", b"job")] or result == [[b"q", b"job"]]
        assert pusher.llen("q") == 0
    finally:
        thread.join(WAIT_S)
        waiter.close()
        pusher.close()


def test_asyncio_brpop_woken(queuekit_server: RunningServer) -> None:
    """An asyncio BRPOP waits without blocking the loop and returns the pushed element."""

    async def scenario() -> None:
        r = async_client(queuekit_server.port)
        other = async_client(queuekit_server.port)
        try:
            waiting = asyncio.ensure_future(r.brpop(["aq"], timeout=20))
            for _ in range(1000):
                if (await other.info("clients"))["blocked_clients"] == 1:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("BRPOP never blocked")
            await other.lpush("aq", "x")
            assert await asyncio.wait_for(waiting, WAIT_S) in ((b"aq", b"x"), [b"aq", b"x"])
        finally:
            await r.aclose()
            await other.aclose()

    asyncio.run(scenario())


# -- CLIENT, HELLO, SELECT, CONFIG, COMMAND, RESET, QUIT ---------------------------


def test_client_name_id_list_info_and_kill(queuekit_server: RunningServer) -> None:
    """CLIENT SETNAME/GETNAME/ID/LIST/INFO describe the connection; KILL drops another."""
    r = sync_client(queuekit_server.port)
    try:
        assert r.client_setname("tour") is True
        assert r.client_getname() in ("tour", b"tour")  # redis-py decodes it in RESP2 only
        my_id = r.client_id()
        assert isinstance(my_id, int) and my_id > 0
        mine = [c for c in r.client_list() if c["id"] == str(my_id)]
        assert len(mine) == 1 and mine[0]["name"] == "tour"
        assert mine[0]["lib-name"] == "redis-py"
        assert r.client_info()["name"] == "tour"
        with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
            r.client_setname("two words")
        with queuekit_server.connect() as victim, victim.makefile("rb") as stream:
            victim.sendall(b"CLIENT ID\r\n")
            victim_id = wire.read_reply(stream)[1]
            assert r.client_kill_filter(_id=victim_id) == 1
            assert stream.read() == b""  # the server hung up on it
        assert all(c["id"] != str(victim_id) for c in r.client_list())
        assert r.client_kill_filter(_id=victim_id) == 0
    finally:
        r.close()


def test_client_kill_by_address(queuekit_server: RunningServer) -> None:
    """CLIENT KILL ip:port (the old form) closes that client; an unknown address is refused."""
    r = sync_client(queuekit_server.port)
    try:
        with queuekit_server.connect() as victim:
            host, port = victim.getsockname()[:2]
            address = f"{host}:{port}"
            wait_for(lambda: any(c["addr"] == address for c in r.client_list()), "the victim")
            assert r.client_kill(address) is True
            assert victim.recv(16) == b""
        with pytest.raises(redis.ResponseError, match="No such client"):
            r.client_kill("1.2.3.4:5")
    finally:
        r.close()


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_redis_py_authenticates_and_names_itself(
    protocol: int, parser: str, server_factory: ServerFactory
) -> None:
    """With a password, redis-py's handshake (AUTH or HELLO AUTH, SETNAME) succeeds."""
    server = server_factory(requirepass="s3cret")
    r = sync_client(server.port, protocol, parser, password="s3cret", client_name="worker-1")
    try:
        assert r.ping() is True
        assert r.client_getname() in ("worker-1", b"worker-1")
        assert r.client_info()["resp"] == str(protocol)
    finally:
        r.close()
    wrong = sync_client(server.port, protocol, parser, password="nope")
    try:
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
    finally:
        wrong.close()


def test_hello_switches_protocol_and_answers_in_it(server_factory: ServerFactory) -> None:
    """HELLO 3 answers a RESP3 map, HELLO 2 an array; AUTH and SETNAME ride along."""
    server = server_factory(requirepass="pw")
    with server.connect() as sock, sock.makefile("rb") as stream:

        def call(*argv: bytes) -> wire.Tagged:
            sock.sendall(wire.encode_command(list(argv)))
            return wire.read_reply(stream)

        assert call(b"PING") == ("-", "NOAUTH Authentication required.")
        assert call(b"HELLO", b"3", b"AUTH", b"default", b"bad") == (
            "-",
            "WRONGPASS invalid username-password pair or user is disabled.",
        )
        tag, fields = call(b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"n1")
        assert tag == "%"
        assert dict(fields)[("$", b"proto")] == (":", 3)
        assert call(b"CLIENT", b"GETNAME") == ("$", b"n1")
        assert call(b"HGETALL", b"none") == ("%", [])
        tag, items = call(b"HELLO", b"2")
        assert tag == "*" and (":", 2) in items
        assert call(b"HGETALL", b"none") == ("*", [])
        assert call(b"HELLO", b"4") == ("-", "NOPROTO unsupported protocol version")


def test_select(queuekit_server: RunningServer) -> None:
    """SELECT 0 is accepted; any other database is out of range, as on a one-db Redis."""
    r = sync_client(queuekit_server.port)
    try:
        assert r.execute_command("SELECT", 0) is True
        with pytest.raises(redis.ResponseError, match=r"^DB index is out of range$"):
            r.execute_command("SELECT", 1)
    finally:
        r.close()
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        sync_client(queuekit_server.port, db=1).ping()


def test_config_get_and_set(server_factory: ServerFactory) -> None:
    """CONFIG SET changes a setting the server then uses; CONFIG GET reads it back."""
    server = server_factory()
    r = sync_client(server.port)
    try:
        assert r.config_get("maxclients") == {"maxclients": "10000"}
        assert r.config_set("timeout", 300) is True
        assert r.config_get("timeout") == {"timeout": "300"}
        assert server.call(lambda: server.server.config.timeout) == 300
        # Redis's units: m is 1000**2 bytes, mb is 1024**2 (redis.conf's "1mb => 1048576").
        assert r.config_set("maxmemory", "10mb") is True
        assert r.config_get("maxmemory") == {"maxmemory": "10485760"}
        assert r.config_set("maxmemory", "10m") is True
        assert r.config_get("maxmemory") == {"maxmemory": "10000000"}
        assert {"save", "appendonly"} <= set(r.config_get("*"))
        with pytest.raises(redis.ResponseError, match="Unknown option"):
            r.config_set("nosuch", 1)
    finally:
        r.close()


def test_command_count_info_and_docs(queuekit_server: RunningServer) -> None:
    """COMMAND COUNT, INFO and DOCS describe the table the dispatcher enforces."""
    r = sync_client(queuekit_server.port)
    try:
        count = r.command_count()
        assert count == queuekit_server.call(
            lambda: len({id(c) for c in queuekit_server.server.engine.commands.values()})
        )
        assert set(r.command()) >= {"blpop", "hset", "client"}
    finally:
        r.close()
    with queuekit_server.connect() as sock, sock.makefile("rb") as stream:
        sock.sendall(b"COMMAND LIST\r\nCOMMAND INFO lpush nosuch\r\nCOMMAND DOCS get\r\n")
        _, names = wire.read_reply(stream)
        assert len(names) == count and ("$", b"blpop") in names
        _, (lpush, nosuch) = wire.read_reply(stream)
        assert lpush[1][:2] == [("$", b"lpush"), (":", -3)]
        assert {flag for _, flag in lpush[1][2][1]} == {b"write", b"denyoom", b"fast"}
        assert lpush[1][3:6] == [(":", 1), (":", 1), (":", 1)]
        assert nosuch == ("$", None)
        _, docs = wire.read_reply(stream)
        (name, (_, fields)) = docs[0], docs[1]
        assert name == ("$", b"get")
        assert ("$", b"GET key") in fields


def test_reset_returns_the_connection_to_its_first_state(server_factory: ServerFactory) -> None:
    """RESET ends MULTI, subscriptions, the name, RESP3 and the login."""
    server = server_factory(requirepass="pw")
    with server.connect() as sock, sock.makefile("rb") as stream:
        sock.sendall(
            b"HELLO 3 AUTH default pw SETNAME x\r\nMULTI\r\nSUBSCRIBE\r\nRESET\r\n"
            b"CLIENT GETNAME\r\n"
        )
        for _ in range(3):
            wire.read_reply(stream)
        assert wire.read_reply(stream) == ("+", b"RESET")
        assert wire.read_reply(stream) == ("-", "NOAUTH Authentication required.")
        sock.sendall(b"AUTH pw\r\nCLIENT GETNAME\r\nHGETALL h\r\n")
        assert wire.read_reply(stream) == ("+", b"OK")
        assert wire.read_reply(stream) == ("$", None)
        assert wire.read_reply(stream) == ("*", [])  # RESP2 again


def test_quit_answers_ok_then_hangs_up(queuekit_server: RunningServer) -> None:
    """QUIT is answered with OK and the connection closes; later commands are not run."""
    with queuekit_server.connect() as sock, sock.makefile("rb") as stream:
        sock.sendall(b"SET after-quit 1\r\nQUIT\r\nSET after-quit 2\r\n")
        assert stream.read() == b"+OK\r\n+OK\r\n"
    r = sync_client(queuekit_server.port)
    try:
        assert r.get("after-quit") == b"1"
        wait_for(lambda: queuekit_server.client_count() == 1, "the closed client to go")
    finally:
        r.close()
