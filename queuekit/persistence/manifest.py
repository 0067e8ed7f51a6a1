"""The AOF manifest: which files make the dataset, and in what order (Redis 7's multi-part AOF).

    DIR/appendonlydir/appendonly.aof.manifest      this file
    DIR/appendonlydir/appendonly.aof.<seq>.base.aof  the dataset as commands, at a rewrite
    DIR/appendonlydir/appendonly.aof.<seq>.incr.aof  the writes since, one file per rewrite

Each line names one file, in Redis's words and order: the base first, then
history files, then the incr files in sequence order:

    file appendonly.aof.2.base.aof seq 2 type b
    file appendonly.aof.2.incr.aof seq 2 type h
    file appendonly.aof.3.incr.aof seq 3 type i

Rules (Redis's aofLoadManifestFromFile and getAofManifestAsString):
1. The dataset is the base (if any) replayed, then each incr file in the
   manifest's order. History files (type h) are not part of it: they are
   what a finished rewrite replaced, listed until they are deleted, so a
   crash before the deletion leaves no file nobody knows about.
2. Parsing is strict, as Redis's: an empty manifest, a line without its
   newline or longer than 1024 bytes, a blank line, a line without file,
   seq and type, a name that is a path, a second base, an incr sequence that
   does not increase, an unknown type, each raises CorruptManifestError
   naming the line. Lines starting with '#' are comments; keys other than
   file/seq/type are skipped (Redis's forward compatibility). Names are
   never quoted here (Redis quotes names with spaces; queuekit's have none).
3. A `Manifest` is a value: every change returns a new one, which the caller
   persists (files.write_durably) before acting on it, as Redis dups its
   manifest, changes the copy, persists it, and only then switches over.
4. New sequence numbers continue past every file listed, history included,
   so a new file never takes the name of one still awaiting deletion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from queuekit.errors import CorruptManifestError, PersistenceError

DIR_NAME = "appendonlydir"  # in the data directory, Redis's appenddirname
BASENAME = "appendonly.aof"  # Redis's appendfilename; also the pre-7 single file's name
MANIFEST_NAME = BASENAME + ".manifest"
# Redis's MANIFEST_MAX_LINE: a longer line is corruption, not a name worth reading.
MAX_LINE_BYTES = 1024

BASE, INCR, HISTORY = "b", "i", "h"
_TYPES = (BASE, INCR, HISTORY)


@dataclass(frozen=True, slots=True)
class AofFile:
    """One line of the manifest: a file name, its sequence number and its type."""

    name: str
    seq: int
    type: str  # BASE, INCR or HISTORY

    def line(self) -> str:
        return f"file {self.name} seq {self.seq} type {self.type}\n"


def base_name(seq: int) -> str:
    return f"{BASENAME}.{seq}.base.aof"


def incr_name(seq: int) -> str:
    return f"{BASENAME}.{seq}.incr.aof"


@dataclass(frozen=True, slots=True)
class Manifest:
    """The files of a multi-part AOF; see the module rules."""

    base: AofFile | None = None
    incrs: tuple[AofFile, ...] = ()
    history: tuple[AofFile, ...] = ()
    base_seq: int = 0  # the last base sequence number handed out
    incr_seq: int = 0  # the last incr sequence number handed out

    @property
    def files(self) -> tuple[AofFile, ...]:
        """The files that make the dataset, in loading order (rule 1)."""
        return ((self.base,) if self.base else ()) + self.incrs

    @property
    def empty(self) -> bool:
        return self.base is None and not self.incrs

    def render(self) -> bytes:
        """The manifest's text, in Redis's order: base, history, incrs."""
        lines = [f.line() for f in ((self.base,) if self.base else ()) + self.history + self.incrs]
        return "".join(lines).encode()

    def with_new_incr(self) -> tuple[Manifest, AofFile]:
        """This manifest with one more incr file at the end (Redis's getNewIncrAofName)."""
        seq = self.incr_seq + 1
        incr = AofFile(incr_name(seq), seq, INCR)
        return replace(self, incrs=(*self.incrs, incr), incr_seq=seq), incr

    def with_new_base(self, *, keep_last_incr: bool) -> tuple[Manifest, AofFile]:
        """A rewrite's result: a new base, and the old base and the incrs it
        covers as history (getNewBaseFileNameAndMarkPreAsHistory and
        markRewrittenIncrAofAsHistory). `keep_last_incr`: the incr being
        appended to holds writes made after the fork, so it stays."""
        seq = self.base_seq + 1
        base = AofFile(base_name(seq), seq, BASE)
        kept = self.incrs[-1:] if keep_last_incr else ()
        replaced = ((self.base,) if self.base else ()) + self.incrs[: len(self.incrs) - len(kept)]
        history = tuple(replace(f, type=HISTORY) for f in replaced) + self.history
        return replace(self, base=base, incrs=kept, history=history, base_seq=seq), base

    def without_history(self) -> Manifest:
        return replace(self, history=())


def upgraded() -> Manifest:
    """The manifest of a directory upgraded from the single pre-7 file: that file
    is the base, under its own name (Redis's aofUpgradePrepare)."""
    return Manifest(base=AofFile(BASENAME, 1, BASE), base_seq=1)


# -- reading ------------------------------------------------------------------------


def read_manifest(path: str | Path) -> Manifest:
    """Parse the manifest at `path` (rule 2). Raises CorruptManifestError, or
    PersistenceError if it cannot be read."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise PersistenceError(f"cannot read the AOF manifest {path}: {error}") from error
    return parse_manifest(raw, str(path))


def parse_manifest(raw: bytes, path: str) -> Manifest:
    """The manifest in `raw`; `path` names it in errors (rule 2)."""
    if not raw:
        raise CorruptManifestError(path, 0, "the manifest is empty")
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the manifest ends with its newline, as it should
    if tail and not tail.startswith(b"#"):
        raise CorruptManifestError(
            path, len(lines) + 1, "the last line has no newline (the manifest is cut short)"
        )
    base: AofFile | None = None
    incrs: list[AofFile] = []
    history: list[AofFile] = []
    for number, line in enumerate(lines, 1):
        entry = _parse_line(line, number, path)
        if entry is None:
            continue
        if entry.type == BASE:
            if base is not None:
                raise CorruptManifestError(path, number, "a second base file", _text(line))
            base = entry
        elif entry.type == HISTORY:
            history.append(entry)
        else:
            if incrs and entry.seq <= incrs[-1].seq:
                raise CorruptManifestError(
                    path,
                    number,
                    f"incr sequence {entry.seq} does not follow {incrs[-1].seq}",
                    _text(line),
                )
            incrs.append(entry)
    listed = [*([base] if base else []), *incrs, *history]
    return Manifest(
        base=base,
        incrs=tuple(incrs),
        history=tuple(history),
        base_seq=max((f.seq for f in listed if f.name == base_name(f.seq)), default=0),
        incr_seq=max((f.seq for f in listed if f.name == incr_name(f.seq)), default=0),
    )


def _text(line: bytes) -> str:
    return line[:MAX_LINE_BYTES].decode("utf-8", "replace").strip()


def _parse_line(line: bytes, number: int, path: str) -> AofFile | None:
    if line.startswith(b"#"):
        return None
    if len(line) + 1 > MAX_LINE_BYTES:
        raise CorruptManifestError(path, number, f"a line is longer than {MAX_LINE_BYTES} bytes")
    words = line.decode("utf-8", "replace").split()
    if len(words) < 6 or len(words) % 2:
        raise CorruptManifestError(
            path, number, "expected 'file NAME seq N type b|i|h'", _text(line)
        )
    fields = {key.lower(): value for key, value in zip(words[0::2], words[1::2], strict=True)}
    name, seq, kind = fields.get("file"), fields.get("seq"), fields.get("type")
    if name is None or seq is None or kind is None:
        raise CorruptManifestError(
            path, number, "a line needs all of file, seq and type", _text(line)
        )
    if "/" in name or name in (".", ".."):
        raise CorruptManifestError(path, number, f"{name!r} is a path, not a file name")
    if not seq.isdigit() or int(seq) == 0:
        raise CorruptManifestError(
            path, number, f"seq {seq!r} is not a positive integer", _text(line)
        )
    if kind[:1] not in _TYPES:
        raise CorruptManifestError(
            path, number, f"type {kind!r} is not b, i or h (base, incr, history)", _text(line)
        )
    return AofFile(name, int(seq), kind[:1])
