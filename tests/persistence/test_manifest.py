"""The AOF manifest: Redis 7's format, strict parsing, and the changes a rewrite makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuekit.errors import CorruptManifestError, PersistenceError
from queuekit.persistence.manifest import (
    BASE,
    HISTORY,
    INCR,
    AofFile,
    Manifest,
    parse_manifest,
    read_manifest,
    upgraded,
)

REDIS_WRITTEN = (
    b"file appendonly.aof.2.base.aof seq 2 type b\n"
    b"file appendonly.aof.1.incr.aof seq 1 type h\n"
    b"file appendonly.aof.2.incr.aof seq 2 type h\n"
    b"file appendonly.aof.3.incr.aof seq 3 type i\n"
    b"file appendonly.aof.4.incr.aof seq 4 type i\n"
)


def test_a_manifest_as_redis_writes_it_parses_and_renders_back_byte_for_byte() -> None:
    """Base, history and incr lines in Redis's order are read and written unchanged."""
    manifest = parse_manifest(REDIS_WRITTEN, "m")
    assert manifest.base == AofFile("appendonly.aof.2.base.aof", 2, BASE)
    assert [f.name for f in manifest.files] == [
        "appendonly.aof.2.base.aof",
        "appendonly.aof.3.incr.aof",
        "appendonly.aof.4.incr.aof",
    ]
    assert [f.seq for f in manifest.history] == [1, 2]
    assert (manifest.base_seq, manifest.incr_seq) == (2, 4)
    assert manifest.render() == REDIS_WRITTEN


def test_comments_and_unknown_keys_are_skipped() -> None:
    """'#' lines are comments; keys other than file/seq/type are ignored (forward compatibility)."""
    manifest = parse_manifest(
        b"# written by hand\nfile a.aof seq 1 type b size 10 extra x\nTYPE i SEQ 3 FILE c.aof\n",
        "m",
    )
    assert manifest.files == (AofFile("a.aof", 1, BASE), AofFile("c.aof", 3, INCR))


def test_a_new_incr_follows_the_last_sequence() -> None:
    """with_new_incr appends appendonly.aof.N+1.incr.aof and leaves the original unchanged."""
    manifest = parse_manifest(REDIS_WRITTEN, "m")
    changed, incr = manifest.with_new_incr()
    assert incr == AofFile("appendonly.aof.5.incr.aof", 5, INCR)
    assert changed.incrs[-1] == incr and len(manifest.incrs) == 2


def test_a_new_base_makes_the_old_base_and_covered_incrs_history() -> None:
    """with_new_base keeps only the incr being appended to; the rest become type h."""
    manifest = parse_manifest(REDIS_WRITTEN, "m")
    changed, base = manifest.with_new_base(keep_last_incr=True)
    assert base == AofFile("appendonly.aof.3.base.aof", 3, BASE)
    assert changed.incrs == (AofFile("appendonly.aof.4.incr.aof", 4, INCR),)
    assert {f.name for f in changed.history} == {
        "appendonly.aof.2.base.aof",
        "appendonly.aof.3.incr.aof",
        "appendonly.aof.1.incr.aof",
        "appendonly.aof.2.incr.aof",
    }
    assert all(f.type == HISTORY for f in changed.history)
    appendonly_off, _ = manifest.with_new_base(keep_last_incr=False)
    assert appendonly_off.incrs == () and changed.without_history().history == ()


def test_new_files_never_reuse_the_number_of_a_file_awaiting_deletion() -> None:
    """Sequences continue past history entries, so a new incr cannot be a file about to go."""
    manifest = parse_manifest(
        b"file appendonly.aof.2.base.aof seq 2 type b\n"
        b"file appendonly.aof.3.base.aof seq 3 type h\n"
        b"file appendonly.aof.7.incr.aof seq 7 type h\n",
        "m",
    )
    assert manifest.with_new_incr()[1].seq == 8
    assert manifest.with_new_base(keep_last_incr=False)[1].seq == 4


def test_the_upgrade_manifest_names_the_old_file_as_base() -> None:
    """A pre-7 appendonly.aof becomes base seq 1 under its own name, as Redis upgrades it."""
    assert upgraded().render() == b"file appendonly.aof seq 1 type b\n"
    assert Manifest().empty and not upgraded().empty


def test_a_missing_manifest_is_a_persistence_error_naming_it(tmp_path: Path) -> None:
    """read_manifest of a path that cannot be read says which one."""
    with pytest.raises(PersistenceError, match=r"cannot read the AOF manifest .*nothing"):
        read_manifest(tmp_path / "nothing")


# -- each parse error, naming the line ---------------------------------------------------

BAD_MANIFESTS = {
    "empty": (b"", 0, "the manifest is empty"),
    "no final newline": (
        b"file a.aof seq 1 type b\nfile b.aof seq 1 type i",
        2,
        "the last line has no newline",
    ),
    "blank line": (b"file a.aof seq 1 type b\n\n", 2, "expected 'file NAME seq N type b|i|h'"),
    "too few words": (b"file a.aof seq 1\n", 1, "expected 'file NAME seq N type"),
    "odd word count": (b"file a.aof seq 1 type b extra\n", 1, "expected 'file NAME seq N type"),
    "no seq": (b"file a.aof type b name x\n", 1, "a line needs all of file, seq and type"),
    "a path": (b"file ../a.aof seq 1 type b\n", 1, "'../a.aof' is a path, not a file name"),
    "seq not a number": (b"file a.aof seq one type b\n", 1, "seq 'one' is not a positive"),
    "seq zero": (b"file a.aof seq 0 type b\n", 1, "seq '0' is not a positive integer"),
    "unknown type": (b"file a.aof seq 1 type x\n", 1, "type 'x' is not b, i or h"),
    "second base": (
        b"file a.aof seq 1 type b\nfile b.aof seq 2 type b\n",
        2,
        "a second base file",
    ),
    "incr sequence going back": (
        b"file a.aof seq 2 type i\nfile b.aof seq 2 type i\n",
        2,
        "incr sequence 2 does not follow 2",
    ),
    "line too long": (b"file " + b"a" * 1100 + b" seq 1 type b\n", 1, "longer than 1024 bytes"),
}


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=str)
def test_a_bad_manifest_is_refused_naming_the_file_and_line(case: str) -> None:
    """Each malformed manifest raises CorruptManifestError with its path, line and reason."""
    raw, line, reason = BAD_MANIFESTS[case]
    with pytest.raises(CorruptManifestError) as raised:
        parse_manifest(raw, "/data/appendonlydir/appendonly.aof.manifest")
    assert raised.value.line == line
    assert reason in raised.value.reason
    assert f"/data/appendonlydir/appendonly.aof.manifest at line {line}" in str(raised.value)
