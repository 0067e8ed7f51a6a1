"""The job envelope and the job result: the one module that imports msgpack.

Rules:
1. Payloads are msgpack, never pickle: decoding one can build only plain data
   (None, bool, int, float, str, bytes, list, dict), never call code.
2. An envelope is a msgpack map with one-letter keys, written in a fixed
   order with the id first, so `id_prefix(job_id)` recognises a job's
   payload in a list without decoding it (cancel uses that).
3. `encode` fails before anything is sent: an argument msgpack cannot encode
   raises TypeError naming it (positional index or keyword name) and its
   type; an envelope over `max_bytes` raises PayloadTooLargeError naming the
   size and the limit.
4. `decode` and `decode_result` accept untrusted bytes: anything that is not
   a well-formed envelope or result raises MalformedPayloadError (a worker
   counts those as undecodable), never another exception.
5. Tuples in arguments arrive as lists, as in JSON; dict keys may be str or int.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]

from queuekit.errors import MalformedPayloadError, PayloadTooLargeError

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024  # 1 MiB: a job, not a file transfer

# Compact keys, in the order they are written (rule 2).
_FIELDS = (
    ("i", "id", str),
    ("t", "task", str),
    ("a", "args", list),
    ("k", "kwargs", dict),
    ("q", "queue", str),
    ("e", "enqueued_at", int),
    ("n", "attempt", int),
    ("o", "options", dict),
)
_MAP_HEADER = bytes([0x80 | len(_FIELDS)])  # a fixmap of len(_FIELDS) entries


def _packb(value: Any) -> bytes:
    # A fresh Packer per call: a shared one is not safe across threads.
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One job as it travels: what to run, with what, and where it came from."""

    id: str
    task: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    enqueued_at: int = 0  # Unix time in ms
    attempt: int = 0  # 0 for the first run; retries count up
    options: dict[str, Any] = field(default_factory=dict)  # per-job overrides of task options


def id_prefix(job_id: str) -> bytes:
    """The first bytes of every payload of job `job_id` (rule 2)."""
    return _MAP_HEADER + _packb("i") + _packb(job_id)


def encode(envelope: Envelope, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> bytes:
    """The envelope as msgpack bytes; TypeError or PayloadTooLargeError as rule 3 says."""
    try:
        data = _packb(
            {
                "i": envelope.id,
                "t": envelope.task,
                "a": envelope.args,
                "k": envelope.kwargs,
                "q": envelope.queue,
                "e": envelope.enqueued_at,
                "n": envelope.attempt,
                "o": envelope.options,
            }
        )
    except (TypeError, ValueError, OverflowError) as error:
        raise _argument_error(envelope, error) from None
    if len(data) > max_bytes:
        raise PayloadTooLargeError(len(data), max_bytes)
    return data


def _argument_error(envelope: Envelope, error: Exception) -> TypeError:
    """The TypeError naming the argument msgpack refused (found by packing each alone)."""
    named: list[tuple[str, Any]] = [
        (f"positional argument {i}", a) for i, a in enumerate(envelope.args)
    ]
    named += [(f"keyword argument {name!r}", value) for name, value in envelope.kwargs.items()]
    named += [(f"option {name!r}", value) for name, value in envelope.options.items()]
    for where, value in named:
        try:
            _packb(value)
        except (TypeError, ValueError, OverflowError):
            return TypeError(
                f"cannot encode {where} of task {envelope.task!r}: "
                f"{type(value).__name__} is not msgpack data ({error}); "
                "pass None, bool, int, float, str, bytes, list or dict"
            )
    return TypeError(f"cannot encode job {envelope.id} of task {envelope.task!r}: {error}")


def decode(data: bytes) -> Envelope:
    """The envelope in `data`; MalformedPayloadError if it is not one (rule 4)."""
    fields = _unpack(data, "job envelope")
    if not isinstance(fields, dict):
        raise MalformedPayloadError(f"job envelope is a {type(fields).__name__}, not a map")
    values: dict[str, Any] = {}
    for short, name, kind in _FIELDS:
        value = fields.get(short)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise MalformedPayloadError(
                f"job envelope field {short!r} ({name}) is {value!r}, not a {kind.__name__}"
            )
        values[name] = value
    if not all(isinstance(key, str) for key in values["kwargs"]):
        raise MalformedPayloadError("job envelope kwargs have a key that is not a str")
    values["args"] = tuple(values["args"])
    return Envelope(**values)


def recover_id(data: bytes) -> str | None:
    """The job id at the head of a payload `decode` refused, if one can be read (rule 2).

    Reads only the map header and the first entry, so a payload damaged
    further on still names its job; None for anything else.
    """
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(data) + 1)
    try:
        unpacker.feed(data)
        if unpacker.read_map_header() < 1 or unpacker.unpack() != "i":
            return None
        job_id = unpacker.unpack()
    except Exception:  # garbage of any kind: no id to recover
        return None
    return job_id if isinstance(job_id, str) and job_id else None


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    except Exception as error:  # msgpack raises several unrelated types on garbage
        raise MalformedPayloadError(
            f"{what} of {len(data)} bytes is not valid msgpack: {type(error).__name__}: {error}"
        ) from None


# -- results ----------------------------------------------------------------------


def encode_result(ok: bool, value: Any = None, error: str | None = None) -> bytes:
    """A result: {"ok": true, "value": v} or {"ok": false, "error": "Type: message"}."""
    if ok:
        try:
            return _packb({"ok": True, "value": value})
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                f"cannot encode the job's return value: {type(value).__name__} "
                f"is not msgpack data ({exc})"
            ) from None
    return _packb({"ok": False, "error": error or ""})


def decode_result(data: bytes) -> tuple[bool, Any]:
    """(True, value) or (False, error text); MalformedPayloadError otherwise."""
    result = _unpack(data, "job result")
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        raise MalformedPayloadError(f"job result {result!r} is not a map with a bool 'ok'")
    if result["ok"]:
        return True, result.get("value")
    error = result.get("error")
    if not isinstance(error, str):
        raise MalformedPayloadError(f"failed job result has error {error!r}, not a str")
    return False, error
