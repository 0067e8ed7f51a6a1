"""Redis Cluster routing, sans IO: the slot of each command, and the units a cluster client sends.

A key's slot is CRC16 (XMODEM) of the key, modulo 16384, or of its hash tag:
the bytes between the first "{" and the next "}", when there are any. The
job layer's keys carry the tag `qk:{<queue>}:`, so a queue lives in one slot.

A buffer of commands is cut into units, and each unit goes whole to the node
serving its slot:
- one command;
- one transaction, MULTI ... EXEC (or DISCARD), written inline in a plain
  pipeline: that is how the job layer sends a transaction per queue, and
  the untagged keys beside them, in one round trip.

Rules:
1. A unit's keys share one slot. A unit whose keys span slots is never sent:
   each of its replies is Redis's own CROSSSLOT error, as a node would answer.
2. A command without keys (PING, TIME...) goes to any primary. A command that
   answers for the whole keyspace (KEYS, SCAN, DBSIZE, FLUSHALL...) would
   answer for one node only, so it is refused the same way, by name.
3. Keys are found by the engine's command table (the key positions Redis's
   COMMAND reports), and by numkeys for the commands whose keys follow it
   (LMPOP, BLMPOP, ZMPOP, BZMPOP, SINTERCARD). A command the engine does not
   know is routed as keyless; the node's MOVED reply then names its node.
4. A unit that got MOVED, ASK, TRYAGAIN or CLUSTERDOWN did not run: a node
   refuses a redirected command before running it, and a command refused
   inside MULTI aborts its EXEC. Such a unit may be sent again (`redirect`):
   at once to the node MOVED or ASK names (ASKING first, for ASK), after a
   backoff wait for TRYAGAIN, CLUSTERDOWN, or ASK to a transaction (ASKING
   covers one command). `Dispatch` keeps that state for one run of units.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import Reply
from queuekit.engine.table import command_table
from queuekit.errors import UsageError

Argv = tuple[bytes, ...]
Node = tuple[str, int]  # host, port

SLOTS = 16384
CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
WHOLE_KEYSPACE = frozenset({b"KEYS", b"SCAN", b"DBSIZE", b"FLUSHALL", b"FLUSHDB", b"RANDOMKEY"})
# Where numkeys sits in the commands whose keys follow it (rule 3).
_NUMKEYS_AT = {"lmpop": 1, "blmpop": 2, "zmpop": 1, "bzmpop": 2, "sintercard": 1}
_REDIRECTS = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN")
WAITING = ("TRYAGAIN", "CLUSTERDOWN")  # redirections that wait before trying again
MAX_REDIRECTS = 16  # rounds of MOVED/ASK for one unit before its reply stands (redis-py's TTL)
ASKING: Argv = (b"ASKING",)
_COMMANDS = command_table()


def key_slot(key: bytes) -> int:
    """The slot of `key` (module docstring)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) % SLOTS


def command_keys(argv: Sequence[bytes]) -> list[bytes]:
    """The key arguments of one command (rule 3); [] for a command without keys."""
    command = _COMMANDS.get(argv[0]) or _COMMANDS.get(argv[0].lower())
    if command is None:
        return []
    at = _NUMKEYS_AT.get(command.name)
    if at is None:
        return command.keys(argv)
    try:
        count = int(argv[at])
    except (IndexError, ValueError):
        return []  # malformed: the node answers with the syntax error
    return list(argv[at + 1 : at + 1 + count])


@dataclass(frozen=True, slots=True)
class Unit:
    """Commands sent together to one node: a command, or MULTI ... EXEC."""

    commands: tuple[Argv, ...]
    slot: int | None  # None: any primary will do
    refused: CommandError | None = None  # answered without being sent (rules 1 and 2)

    def refusal(self) -> list[Reply]:
        """The replies of a refused unit: its error, once per command."""
        return [self.refused] * len(self.commands)


def _unit(commands: tuple[Argv, ...], keyed: Sequence[Argv]) -> Unit:
    for argv in keyed:
        name = argv[0].upper()
        if name in WHOLE_KEYSPACE:
            message = (
                f"ERR {name.decode()} on a cluster would answer for one node: ask each primary"
            )
            return Unit(commands, None, CommandError(message))
    slots = {key_slot(key) for argv in keyed for key in command_keys(argv)}
    if len(slots) > 1:
        return Unit(commands, None, CommandError(CROSSSLOT))
    return Unit(commands, slots.pop() if slots else None)


def command_unit(argv: Argv) -> Unit:
    """One command as a unit."""
    return _unit((argv,), (argv,))


def transaction_unit(commands: Sequence[Argv]) -> Unit:
    """MULTI, the commands, EXEC: one unit, whose commands must share one slot."""
    wrapped = ((b"MULTI",), *commands, (b"EXEC",))
    return _unit(wrapped, commands)


def pipeline_units(commands: Sequence[Argv]) -> list[Unit]:
    """A plain pipeline's buffer as units: inline MULTI ... EXEC/DISCARD blocks stay whole."""
    units: list[Unit] = []
    start = 0
    while start < len(commands):
        if commands[start][0].upper() != b"MULTI":
            units.append(command_unit(commands[start]))
            start += 1
            continue
        end = next(
            (
                index
                for index in range(start + 1, len(commands))
                if commands[index][0].upper() in (b"EXEC", b"DISCARD")
            ),
            None,
        )
        if end is None:
            raise UsageError(
                f"command #{start + 1} of a cluster pipeline is a MULTI without EXEC or "
                "DISCARD: a transaction must be sent whole to its node"
            )
        units.append(_unit(tuple(commands[start : end + 1]), commands[start + 1 : end]))
        start = end + 1
    return units


@dataclass(frozen=True, slots=True)
class Redirect:
    """Why a unit did not run (rule 4), and the node named, for MOVED and ASK."""

    kind: str  # MOVED, ASK, TRYAGAIN or CLUSTERDOWN
    node: tuple[str, int] | None = None


def redirect(replies: Sequence[Reply]) -> Redirect | None:
    """The redirection among a unit's replies, if any (rule 4)."""
    for reply in replies:
        if not isinstance(reply, CommandError):
            continue
        kind, _, rest = reply.message.partition(" ")
        if kind not in _REDIRECTS:
            continue
        if kind in ("MOVED", "ASK"):  # MOVED <slot> <host>:<port>
            host, _, port = rest.partition(" ")[2].rpartition(":")
            return Redirect(kind, (host, int(port)))
        return Redirect(kind)
    return None


@dataclass
class Dispatch:
    """One run of units by a cluster client: where each pending unit goes next (rule
    4: a redirected unit goes again, to the node named or after a wait), and the
    replies of each."""

    units: list[Unit]
    delays: Iterator[float]
    replies: list[list[Reply]] = field(init=False)
    pending: list[int] = field(init=False)
    routes: dict[int, Node] = field(default_factory=dict)  # MOVED/ASK named another node
    asking: set[int] = field(default_factory=set)  # send ASKING first
    redirected: list[int] = field(default_factory=list)
    refresh: bool = False  # the slot map is stale
    wait: bool = False  # a unit must wait before it is sent again
    rounds: int = 0

    def __post_init__(self) -> None:
        self.replies = [unit.refusal() if unit.refused else [] for unit in self.units]
        self.pending = [index for index, unit in enumerate(self.units) if unit.refused is None]

    def commands(self, indexes: list[int]) -> list[Argv]:
        """What to send a node for these units, ASKING where needed."""
        commands: list[Argv] = []
        for index in indexes:
            if index in self.asking:
                commands.append(ASKING)
            commands += self.units[index].commands
        return commands

    def take(self, node: Node, indexes: list[int], flat: list[Reply]) -> None:
        """A node's replies to `commands(indexes)`, split per unit."""
        position = 0
        for index in indexes:
            position += index in self.asking  # the ASKING reply
            size = len(self.units[index].commands)
            self.replies[index] = flat[position : position + size]
            position += size
            self._redirected(node, index)

    def _redirected(self, sent_to: Node, index: int) -> None:
        moved = redirect(self.replies[index])
        self.asking.discard(index)
        if moved is None:
            self.routes.pop(index, None)
            return
        self.redirected.append(index)
        unit = self.units[index]
        if moved.kind in WAITING or (moved.kind == "ASK" and len(unit.commands) > 1):
            # ASKING covers one command: a transaction waits out the migration.
            self.wait = True
            self.refresh |= moved.kind == "CLUSTERDOWN"
            return
        assert moved.node is not None
        host, port = moved.node
        self.routes[index] = (host or sent_to[0], port)
        if moved.kind == "ASK":
            self.asking.add(index)
        else:
            self.refresh |= unit.slot is not None

    def next_round(self) -> float | None:
        """After an exchange: the wait before sending the redirected units again, or
        None when they have had enough tries (their replies stand)."""
        self.pending, self.redirected = self.redirected, []
        self.rounds += 1
        if not self.wait:
            return 0.0 if self.rounds < MAX_REDIRECTS else None
        self.wait = False
        return next(self.delays, None)
