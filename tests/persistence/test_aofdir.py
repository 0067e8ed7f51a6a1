"""The multi-part AOF directory: load order, damaged files, upgrade, and each step of a rewrite.

A crash is simulated by dropping the objects and opening the directory
again, as a restarted server would: what matters is what the files on disk
say at each point.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from queuekit.cli import main
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.errors import CorruptFileError, CorruptManifestError, PersistenceError
from queuekit.persistence import aofdir
from queuekit.persistence.aofdir import AofDirectory, check_path
from queuekit.persistence.manifest import (
    BASENAME,
    DIR_NAME,
    MANIFEST_NAME,
    base_name,
    incr_name,
    read_manifest,
    upgraded,
)
from queuekit.persistence.propagate import Propagation
from queuekit.persistence.rewrite import write_base_file
from queuekit.resp.encoder import encode_command
from tests.persistence.support import START_MS, Recorder, dataset


def frames(*commands: tuple[bytes, ...]) -> bytes:
    return b"".join(encode_command(argv) for argv in commands)


def build(data_dir: Path, manifest: str, files: dict[str, bytes]) -> Path:
    """A hand-made appendonlydir: the manifest's text and the files' bytes."""
    directory = data_dir / DIR_NAME
    directory.mkdir(parents=True)
    (directory / MANIFEST_NAME).write_text(manifest)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


def loaded(data_dir: Path) -> Engine:
    """The dataset a restarted server would load from `data_dir`."""
    engine = Engine(FakeClock(START_MS))
    AofDirectory(data_dir).load(engine)
    return engine


THREE_FILES = (
    "file appendonly.aof.1.base.aof seq 1 type b\n"
    "file appendonly.aof.1.incr.aof seq 1 type i\n"
    "file appendonly.aof.2.incr.aof seq 2 type i\n"
)
TWO_FILES = (
    "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
)
BASE = frames((b"SET", b"k", b"base"), (b"RPUSH", b"q", b"a"))
INCR1 = frames((b"SET", b"k", b"one"), (b"RPUSH", b"q", b"b"))
INCR2 = frames((b"APPEND", b"k", b"!"), (b"RPUSH", b"q", b"c"))
THREE = {base_name(1): BASE, incr_name(1): INCR1, incr_name(2): INCR2}


class Served:
    """An engine logging into an opened AofDirectory, as the server runs one."""

    def __init__(self, data_dir: Path, recorder: Recorder | None = None) -> None:
        self.recorder = recorder or Recorder()
        self.directory = AofDirectory(data_dir)
        self.directory.upgrade_if_needed()
        self.directory.load(self.recorder.engine)
        self.aof = self.directory.open(self.recorder.engine, "always", background=False)

    def __call__(self, *args: str | int) -> object:
        reply = self.recorder(*args)
        self.aof.append(self.recorder.propagation.take())
        self.aof.flush()
        return reply


# -- loading --------------------------------------------------------------------------


def test_the_base_then_each_incr_replay_in_manifest_order(data_dir: Path) -> None:
    """base SET, incr 1 SET, incr 2 APPEND: the last word is the incrs', in order."""
    build(data_dir, THREE_FILES, THREE)
    engine = loaded(data_dir)
    assert engine.db.data[b"k"] == b"one!"
    assert list(engine.db.data[b"q"]) == [b"a", b"b", b"c"]


def test_a_key_expiring_between_files_is_live_for_the_later_files(data_dir: Path) -> None:
    """Expired keys are purged after the last file, so an incr's command still saw its key."""
    base = frames((b"SET", b"k", b"v"), (b"PEXPIREAT", b"k", b"%d" % (START_MS - 10)))
    incr = frames(
        (b"PERSIST", b"k"),
    )
    build(data_dir, THREE_FILES, {base_name(1): base, incr_name(1): incr, incr_name(2): b""})
    assert loaded(data_dir).db.data == {b"k": b"v"}


def test_a_truncated_last_incr_is_cut_with_a_warning_and_the_rest_loads(data_dir: Path) -> None:
    """The last file's half command is dropped, cut from the file and kept beside it."""
    tail = encode_command((b"RPUSH", b"q", b"lost"))
    directory = build(data_dir, THREE_FILES, {**THREE, incr_name(2): INCR2 + tail[:9]})
    with capture_logs() as logs:
        served = Served(data_dir)
    assert list(served.recorder.db.data[b"q"]) == [b"a", b"b", b"c"]
    assert [e["offset"] for e in logs if e["event"] == "aof_truncated_tail_dropped"] == [len(INCR2)]
    last = directory / incr_name(2)
    assert last.read_bytes() == INCR2
    assert Path(f"{last}.truncated-{len(INCR2)}").read_bytes() == tail[:9]


@pytest.mark.parametrize("cut", [base_name(1), incr_name(1)])
def test_a_truncated_file_before_the_last_is_refused_naming_it(data_dir: Path, cut: str) -> None:
    """A base or an earlier incr cut short stops the load: its loss would skew what follows."""
    directory = build(data_dir, THREE_FILES, {**THREE, cut: THREE[cut][:-3]})
    with pytest.raises(CorruptFileError, match="not the last file") as raised:
        loaded(data_dir)
    assert raised.value.path == str(directory / cut)
    assert raised.value.offset == len(frames((b"SET", b"k", b"base" if "base" in cut else b"one")))
    assert "check-aof --fix cuts only the last file" in str(raised.value)
    assert (directory / cut).read_bytes() == THREE[cut][:-3]  # left as it was


def test_corruption_in_a_middle_file_names_that_file_and_offset(data_dir: Path) -> None:
    """Garbage inside incr 1 is refused with incr 1's path and the byte offset."""
    build(data_dir, THREE_FILES, {**THREE, incr_name(1): INCR1[:20] + b"?" + INCR1[21:]})
    with pytest.raises(CorruptFileError) as raised:
        loaded(data_dir)
    assert raised.value.path.endswith(incr_name(1)) and raised.value.offset == 20
    assert "check-aof --fix cuts only the last file" in str(raised.value)


def test_a_listed_file_that_is_missing_refuses_the_load(data_dir: Path) -> None:
    """The error names the manifest and the missing file."""
    build(data_dir, THREE_FILES, {base_name(1): BASE, incr_name(2): INCR2})
    with pytest.raises(PersistenceError, match=f"lists {incr_name(1)}, which does not exist"):
        loaded(data_dir)


def test_a_bad_manifest_refuses_the_directory_naming_the_line(data_dir: Path) -> None:
    """A manifest that does not parse stops AofDirectory before anything is read."""
    build(data_dir, "file appendonly.aof.1.base.aof seq 1 type b\nfile x seq 2\n", THREE)
    with pytest.raises(CorruptManifestError, match="at line 2"):
        AofDirectory(data_dir)


# -- start-up -------------------------------------------------------------------------


def test_a_fresh_directory_gets_an_empty_base_and_an_incr(data_dir: Path) -> None:
    """open() writes base 1 (the empty dataset) and incr 1, listed in that order."""
    served = Served(data_dir)
    served("SET", "k", "v")
    directory = data_dir / DIR_NAME
    assert (directory / MANIFEST_NAME).read_bytes() == (
        b"file appendonly.aof.1.base.aof seq 1 type b\n"
        b"file appendonly.aof.1.incr.aof seq 1 type i\n"
    )
    assert (directory / base_name(1)).read_bytes() == b""
    assert (directory / incr_name(1)).read_bytes() == frames((b"SET", b"k", b"v"))
    assert served.directory.current_size == len(frames((b"SET", b"k", b"v")))


def test_a_restart_appends_to_the_last_incr(data_dir: Path) -> None:
    """Opening a directory again keeps writing the same incr, and loads what was there."""
    Served(data_dir)("RPUSH", "q", "a")
    served = Served(data_dir)
    served("RPUSH", "q", "b")
    assert read_manifest(data_dir / DIR_NAME / MANIFEST_NAME).incr_seq == 1
    assert list(loaded(data_dir).db.data[b"q"]) == [b"a", b"b"]


def test_a_single_pre_7_file_is_upgraded_into_the_directory_as_the_base(data_dir: Path) -> None:
    """DIR/appendonly.aof moves into appendonlydir under its name, as base 1; nothing is lost."""
    (data_dir / BASENAME).write_bytes(BASE)
    served = Served(data_dir)
    served("RPUSH", "q", "z")
    directory = data_dir / DIR_NAME
    assert not (data_dir / BASENAME).exists()
    assert (directory / BASENAME).read_bytes() == BASE
    assert [f.name for f in read_manifest(directory / MANIFEST_NAME).files] == [
        BASENAME,
        incr_name(1),
    ]
    assert list(loaded(data_dir).db.data[b"q"]) == [b"a", b"z"]


def test_an_upgrade_cut_short_by_a_crash_is_finished_on_the_next_start(data_dir: Path) -> None:
    """Manifest persisted, file not yet moved: the next start moves it and loads it."""
    (data_dir / BASENAME).write_bytes(BASE)
    (data_dir / DIR_NAME).mkdir()
    (data_dir / DIR_NAME / MANIFEST_NAME).write_bytes(upgraded().render())
    assert AofDirectory(data_dir).upgrade_if_needed()
    assert loaded(data_dir).db.data[b"k"] == b"base"


def test_an_old_file_beside_a_directory_in_use_is_left_alone(data_dir: Path) -> None:
    """With a manifest that lists files, a stray DIR/appendonly.aof is no upgrade."""
    build(data_dir, THREE_FILES, THREE)
    (data_dir / BASENAME).write_bytes(frames((b"SET", b"stray", b"1")))
    assert not AofDirectory(data_dir).upgrade_if_needed()
    assert (data_dir / BASENAME).exists() and b"stray" not in loaded(data_dir).db.data


def test_an_upgraded_file_cut_short_is_the_last_file_and_loads(data_dir: Path) -> None:
    """The old single file may end in a half command; as the only file it is the last one."""
    (data_dir / BASENAME).write_bytes(BASE + encode_command((b"SET", b"x", b"y"))[:5])
    served = Served(data_dir)
    served("SET", "after", "1")
    assert dataset(loaded(data_dir)) == dataset(served.recorder.engine)


def test_history_left_by_a_crash_is_deleted_at_start(data_dir: Path) -> None:
    """Files listed as history are removed, then unlisted; the dataset files stay."""
    manifest = THREE_FILES + "file appendonly.aof.9.incr.aof seq 9 type h\n"
    directory = build(data_dir, manifest, {**THREE, incr_name(9): b"old"})
    Served(data_dir)
    assert not (directory / incr_name(9)).exists()
    assert read_manifest(directory / MANIFEST_NAME).history == ()
    assert loaded(data_dir).db.data[b"k"] == b"one!"


# -- rewriting ------------------------------------------------------------------------


def finish_unlinking(directory: AofDirectory) -> None:
    """Wait for the background deletion of the files a rewrite replaced."""
    assert directory.unlinking is not None
    directory.unlinking.join(30)
    assert not directory.unlinking.is_alive()


def test_replaced_files_are_deleted_in_the_background_then_unlisted(data_dir: Path) -> None:
    """After a rewrite the old files go on a thread; the next persist drops their entries."""
    served = Served(data_dir)
    served("SET", "k", "v")
    temp = rewrite_in_process(served)
    served.directory.finish_rewrite(temp)
    finish_unlinking(served.directory)
    manifest_path = data_dir / DIR_NAME / MANIFEST_NAME
    assert [f.name for f in read_manifest(manifest_path).history] == [base_name(1), incr_name(1)]
    assert not (data_dir / DIR_NAME / base_name(1)).exists()
    served.directory.begin_rewrite()  # the next persist, for any reason
    assert read_manifest(manifest_path).history == ()


def rewrite_in_process(served: Served) -> Path:
    """begin_rewrite, then the child's work done here (no fork): the finished temp file."""
    served.aof.append(served.recorder.propagation.take())
    served.directory.begin_rewrite()
    temp = served.directory.temp_path(os.getpid())
    write_base_file(temp, served.recorder.db)
    return temp


def test_a_rewrite_leaves_a_new_base_and_the_new_incr_and_deletes_the_rest(data_dir: Path) -> None:
    """After finish_rewrite only base 2 and incr 2 remain, and they hold everything."""
    served = Served(data_dir)
    for n in range(100):
        served("SET", "k", n)
    temp = rewrite_in_process(served)
    served("RPUSH", "during", "x")
    served.directory.finish_rewrite(temp)
    served("RPUSH", "after", "y")
    finish_unlinking(served.directory)
    directory = data_dir / DIR_NAME
    assert sorted(os.listdir(directory)) == [base_name(2), incr_name(2), MANIFEST_NAME]
    assert (directory / base_name(2)).read_bytes() == frames((b"SET", b"k", b"99"))
    assert dataset(loaded(data_dir)) == dataset(served.recorder.engine)
    sizes = (directory / base_name(2)).stat().st_size + (directory / incr_name(2)).stat().st_size
    assert served.directory.current_size == sizes
    assert served.directory.base_size == (directory / base_name(2)).stat().st_size


def test_a_crash_mid_rewrite_loads_everything_and_drops_the_temp_file(data_dir: Path) -> None:
    """Killed while the child writes: old base, old incr and new incr load; the temp goes."""
    served = Served(data_dir)
    served("SET", "before", "1")
    served.aof.append(served.recorder.propagation.take())
    served.directory.begin_rewrite()
    temp = served.directory.temp_path(4242)
    temp.write_bytes(frames((b"SET", b"before", b"1"))[:7])  # the child's half-written file
    served("SET", "during", "2")
    restarted = Served(data_dir)
    assert dataset(restarted.recorder.engine) == dataset(served.recorder.engine)
    assert not temp.exists()


def test_a_crash_between_the_rename_and_the_manifest_loads_the_old_files(data_dir: Path) -> None:
    """A renamed base the manifest does not list yet is ignored; the listed files hold it all."""
    served = Served(data_dir)
    served("SET", "k", "v")
    temp = rewrite_in_process(served)
    served("SET", "during", "1")
    os.rename(temp, data_dir / DIR_NAME / base_name(2))  # ...and the server dies here
    restarted = Served(data_dir)
    assert dataset(restarted.recorder.engine) == dataset(served.recorder.engine)
    temp = rewrite_in_process(restarted)
    restarted.directory.finish_rewrite(temp)  # the next rewrite takes that name over
    assert dataset(loaded(data_dir)) == dataset(served.recorder.engine)


def test_an_aborted_rewrite_removes_its_temp_and_keeps_every_file_listed(data_dir: Path) -> None:
    """abort_rewrite: the manifest still lists base 1, incr 1 and incr 2; all of it loads."""
    served = Served(data_dir)
    served("SET", "k", "v")
    temp = rewrite_in_process(served)
    served("SET", "during", "1")
    served.directory.abort_rewrite(temp)
    assert not temp.exists()
    listed = [f.name for f in read_manifest(data_dir / DIR_NAME / MANIFEST_NAME).files]
    assert listed == [base_name(1), incr_name(1), incr_name(2)]
    assert dataset(loaded(data_dir)) == dataset(served.recorder.engine)


def test_a_manifest_that_cannot_be_persisted_leaves_the_old_incr_in_use(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """begin_rewrite fails whole: appending stays on incr 1 and the new file is removed."""
    served = Served(data_dir)
    served("SET", "k", "v")

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(aofdir, "write_durably", full_disk)
    with pytest.raises(PersistenceError, match="No space left"):
        served.directory.begin_rewrite()
    monkeypatch.undo()
    served("SET", "after", "1")
    assert served.aof.path.endswith(incr_name(1))
    assert not (data_dir / DIR_NAME / incr_name(2)).exists()
    assert dataset(loaded(data_dir)) == dataset(served.recorder.engine)


def test_with_appendonly_off_a_rewrite_lists_only_the_new_base(data_dir: Path) -> None:
    """No incr is open: the base replaces every file, as Redis 7 does with appendonly no."""
    build(data_dir, THREE_FILES, THREE)
    engine = loaded(data_dir)
    directory = AofDirectory(data_dir)
    directory.begin_rewrite()  # nothing to switch
    temp = directory.temp_path(1)
    write_base_file(temp, engine.db)
    directory.finish_rewrite(temp)
    finish_unlinking(directory)
    manifest = read_manifest(data_dir / DIR_NAME / MANIFEST_NAME)
    assert [f.name for f in manifest.files] == [base_name(2)]
    assert sorted(os.listdir(data_dir / DIR_NAME)) == [base_name(2), MANIFEST_NAME]
    assert dataset(loaded(data_dir)) == dataset(engine)


def test_expired_keys_found_at_load_reach_the_new_incr_as_del(data_dir: Path) -> None:
    """A key whose deadline passed while down is purged and logged, so later loads agree."""
    base = frames((b"SET", b"k", b"v"), (b"PEXPIREAT", b"k", b"%d" % (START_MS - 10)))
    build(data_dir, TWO_FILES, {base_name(1): base, incr_name(1): b""})
    engine = Engine(FakeClock(START_MS))
    propagation = Propagation(engine)
    propagation.attach()
    directory = AofDirectory(data_dir)
    report = directory.load(engine)
    assert report is not None and report.expired_keys == 1
    assert propagation.take() == frames((b"DEL", b"k"))


# -- check-aof ------------------------------------------------------------------------


def test_check_aof_takes_the_data_dir_the_aof_dir_or_the_manifest(data_dir: Path) -> None:
    """Each form reports every listed file, in order."""
    directory = build(data_dir, THREE_FILES, THREE)
    for path in (data_dir, directory, directory / MANIFEST_NAME):
        reports = check_path(path)
        assert [(Path(r.path).name, r.status) for r in reports] == [
            (base_name(1), "ok"),
            (incr_name(1), "ok"),
            (incr_name(2), "ok"),
        ]


def test_fix_cuts_the_last_incr_only(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cut last incr is fixed; a cut earlier file is reported, never cut."""
    directory = build(data_dir, THREE_FILES, {**THREE, incr_name(2): INCR2 + b"*2\r\n$3"})
    assert main(["check-aof", str(data_dir)]) == 1
    assert "run `queuekit check-aof --fix" in capsys.readouterr().out
    assert main(["check-aof", "--fix", str(data_dir)]) == 0
    assert (directory / incr_name(2)).read_bytes() == INCR2

    (directory / incr_name(1)).write_bytes(INCR1[:-2])
    assert main(["check-aof", "--fix", str(directory / MANIFEST_NAME)]) == 1
    out = capsys.readouterr().out
    assert f"{incr_name(1)} is truncated" in out and "--fix will not cut it" in out
    assert (directory / incr_name(1)).read_bytes() == INCR1[:-2]


def test_one_file_that_is_not_the_last_is_never_cut(data_dir: Path) -> None:
    """check-aof --fix FILE on an earlier incr of a manifest reports, and leaves it whole."""
    directory = build(data_dir, THREE_FILES, {**THREE, incr_name(1): INCR1[:-2]})
    assert main(["check-aof", "--fix", str(directory / incr_name(1))]) == 1
    assert (directory / incr_name(1)).read_bytes() == INCR1[:-2]


def test_check_aof_reports_a_missing_file_and_a_bad_manifest(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listed file not there, and a manifest that does not parse, both fail with a reason."""
    directory = build(data_dir, THREE_FILES, {base_name(1): BASE, incr_name(2): INCR2})
    assert main(["check-aof", str(data_dir)]) == 1
    assert f"{incr_name(1)} is missing" in capsys.readouterr().out
    (directory / MANIFEST_NAME).write_text("nonsense\n")
    assert main(["check-aof", str(data_dir)]) == 1
    assert "at line 1" in capsys.readouterr().out
    assert main(["check-aof", str(data_dir / "nowhere")]) == 1
