"""The multi-part AOF of one data directory: its manifest, its files, the incr being appended.

    aof, report = open_aof(data_dir, engine, "everysec")   all of the below, as a server starts

    aof = AofDirectory(data_dir)          reads DIR/appendonlydir's manifest, if any
    aof.upgrade_if_needed()               a pre-7 DIR/appendonly.aof becomes the base
    aof.load(engine)                      the base, then each incr, as one log
    writer = aof.open(engine, "always")   the AppendOnlyFile new writes go to
    aof.begin_rewrite()                   a new incr for the writes made from now on
    aof.finish_rewrite(temp)              a rewrite child's file becomes the base
    aof.abort_rewrite(temp)               ...or is thrown away; nothing else changes

Rules (Redis 7's aof.c; the layout is in manifest.py):
1. The manifest on disk says what the dataset is. A file is relied upon
   only once a persisted manifest lists it, and deleted only once a
   persisted manifest lists it as history, never as data; a history entry
   is unlisted by the first persist after its file is gone. Manifests are
   persisted whole or not at all (files.write_durably).
2. Upgrade (aofUpgradePrepare): a single DIR/appendonly.aof, with no
   manifest that already covers it, becomes the base under its own name. The
   manifest naming it is persisted first, then the file is moved in; a
   crash between the two is finished on the next start. Nothing is deleted.
3. Start (aofOpenIfNeededOnServerStart): a directory without files gets a
   base, the dataset as it is (empty, or what a snapshot gave), written
   synchronously; then the last incr is opened for appending, or a new one
   made; then history files are deleted. The last file a load found cut
   short loses that tail first (loader.drop_truncated_tail): new writes go
   after it. Temp files of a rewrite that a crash interrupted are removed:
   they were never listed, and every write they hold is in listed files.
4. A rewrite (rewriteAppendOnlyFileBackground, backgroundRewriteDoneHandler):
   `begin_rewrite` writes and fsyncs the current incr, switches appending
   to a new incr and persists the manifest (old base, old incrs, new incr)
   before the fork, so the child's view covers exactly the files before the
   new incr. `finish_rewrite` renames the child's fsynced file to the next
   base and persists the manifest (new base, new incr; the rest as
   history), then deletes the history on a background thread, as Redis's
   bg_unlink: freeing tens of megabytes of blocks takes the file system
   milliseconds no client should wait for. A crash at any moment leaves a
   manifest whose files hold every write: before the second persist the
   old files, after it the new base and the incr.
5. With appendonly off there is no incr: a rewrite still writes a base
   and lists it, with every incr as history (Redis 7 does the same).
6. A listed file that is missing refuses the load, naming the manifest and
   the file; so does a file cut short that is not the last (loader).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from queuekit.errors import PersistenceError
from queuekit.persistence.aof import AppendOnlyFile
from queuekit.persistence.files import TEMP_PREFIX, fsync_directory, install, write_durably
from queuekit.persistence.loader import (
    CheckReport,
    LoadReport,
    check_aof,
    drop_truncated_tail,
    load_files,
)
from queuekit.persistence.manifest import (
    BASENAME,
    DIR_NAME,
    MANIFEST_NAME,
    AofFile,
    Manifest,
    read_manifest,
    upgraded,
)
from queuekit.persistence.rewrite import write_base_file

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine

log = structlog.get_logger(__name__)

REWRITE_TEMP_PREFIX = TEMP_PREFIX + "rewriteaof-bg-"  # Redis's temp-rewriteaof-bg-PID.aof


def open_aof(
    data_dir: str | os.PathLike[str], engine: Engine, fsync: str, **options: Any
) -> tuple[AofDirectory, LoadReport | None]:
    """Upgrade, load into `engine`, open for appending (rules 2, 3, 6): what a
    server (or an in-process store) does with its data directory at start.

    The writer is `directory.incr`; the report is None for a directory
    without files. Raises CorruptFileError, CorruptManifestError or
    PersistenceError, with the files left as they were.
    """
    directory = AofDirectory(data_dir)
    directory.upgrade_if_needed()
    report = directory.load(engine)
    directory.open(engine, fsync, **options)
    return directory, report


class AofDirectory:
    """The AOF files of one data directory; see the module rules.

    One caller at a time; only the deletion of replaced files runs on a
    thread of its own (`unlinking`), touching nothing but those files.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DIR_NAME
        self.manifest_path = self.path / MANIFEST_NAME
        self.manifest = (
            read_manifest(self.manifest_path) if self.manifest_path.is_file() else Manifest()
        )
        self.incr: AppendOnlyFile | None = None  # the file appended to (appendonly only)
        self._sealed_bytes = 0  # the base and the incrs before `incr`: sizes that no longer move
        self.base_size = 0
        # What an automatic rewrite measures growth against: the AOF's size
        # after the last rewrite, or the base's at start (Redis's
        # aof_rewrite_base_size, not persisted, so the first rewrite may come early).
        self.size_at_rewrite = 0
        self.unlinking: threading.Thread | None = None  # deleting the last rewrite's history

    def file_path(self, entry: AofFile) -> Path:
        return self.path / entry.name

    def temp_path(self, pid: int) -> Path:
        """Where the rewrite child `pid` writes the new base."""
        return self.path / f"{REWRITE_TEMP_PREFIX}{pid}.aof"

    @property
    def current_size(self) -> int:
        """Bytes of the base and every incr (Redis's aof_current_size)."""
        return self._sealed_bytes + (self.incr.size if self.incr is not None else 0)

    def growth_due(self, rewrite_percentage: int, rewrite_min_size: int) -> int | None:
        """The files' growth in percent since the last rewrite, if Redis's
        automatic-rewrite rule says that is enough: past `rewrite_min_size`
        bytes and grown by `rewrite_percentage` or more (0: never)."""
        size = self.current_size
        if not rewrite_percentage or size <= rewrite_min_size:
            return None
        growth = size * 100 // max(self.size_at_rewrite, 1) - 100
        return growth if growth >= rewrite_percentage else None

    # -- start-up ---------------------------------------------------------------------

    def upgrade_if_needed(self) -> bool:
        """Move a pre-7 single file into the layout as its base (rule 2); True if it did."""
        old = self.data_dir / BASENAME
        if not old.is_file():
            return False
        manifest = self.manifest
        unfinished = (
            manifest.base is not None
            and manifest.base.name == BASENAME
            and not manifest.incrs
            and not (self.path / BASENAME).exists()
        )
        if self.manifest_path.is_file() and not manifest.empty and not unfinished:
            return False
        self.path.mkdir(exist_ok=True)
        self._persist(upgraded())
        os.rename(old, self.path / BASENAME)
        fsync_directory(self.path)
        fsync_directory(self.data_dir)
        log.info(
            "aof_upgraded", moved=str(old), into=str(self.path), manifest=self.manifest_path.name
        )
        return True

    def load(self, engine: Engine) -> LoadReport | None:
        """Replay the listed files into `engine` (rule 6); None if there are none."""
        files = self.manifest.files
        if not files:
            return None
        for entry in files:
            if not self.file_path(entry).is_file():
                raise PersistenceError(
                    f"the AOF manifest {self.manifest_path} lists {entry.name}, which does not "
                    f"exist in {self.path}: restore it from a backup"
                )
        report = load_files([self.file_path(entry) for entry in files], engine)
        if report.truncated_at is not None:
            drop_truncated_tail(report.path, report.valid_bytes, report.file_bytes)
        return report

    def open(self, engine: Engine, fsync: str, **options: Any) -> AppendOnlyFile:
        """Make sure there is a base and an incr, and append to the incr (rule 3).

        `options` go to AppendOnlyFile (clocks, background fsync).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self._remove_rewrite_temps()
        manifest = self.manifest
        if manifest.empty:
            manifest, base = manifest.with_new_base(keep_last_incr=False)
            temp = self.temp_path(os.getpid())
            write_base_file(temp, engine.db)
            install(temp, self.file_path(base))
            log.info("aof_base_created", file=base.name)
        if not manifest.incrs:
            manifest, _ = manifest.with_new_incr()
        self.incr = AppendOnlyFile(self.file_path(manifest.incrs[-1]), fsync, **options)
        if manifest != self.manifest:
            self._persist(manifest)
        self.delete_history()
        self._measure()
        self.size_at_rewrite = self.base_size
        return self.incr

    def _remove_rewrite_temps(self) -> None:
        for stale in self.path.glob(REWRITE_TEMP_PREFIX + "*.aof"):
            stale.unlink()
            log.warning("aof_rewrite_temp_removed", file=stale.name, reason="left by a crash")

    # -- rewriting ----------------------------------------------------------------------

    def begin_rewrite(self) -> None:
        """Append to a new incr from now on, listed before it gets a write (rule 4).

        The caller has put every write so far into `incr`'s buffer. Raises
        PersistenceError; everything is then as it was.
        """
        self.path.mkdir(parents=True, exist_ok=True)  # where the child will write
        if self.incr is None:
            return  # appendonly off (rule 5)
        manifest, new = self.manifest.with_new_incr()
        old_path, old_size = self.incr.path, self.incr.size
        self.incr.switch(self.file_path(new))
        try:
            self._persist(manifest)
        except OSError as error:
            self.incr.switch(old_path)  # nothing was appended in between
            with contextlib.suppress(OSError):
                self.file_path(new).unlink()
            raise PersistenceError(f"cannot persist the AOF manifest: {error}") from error
        self._sealed_bytes += old_size
        log.info("aof_incr_created", file=new.name, reason="rewrite")

    def finish_rewrite(self, temp: Path) -> AofFile:
        """Make the child's finished file the base (rule 4); the new base's entry.

        Raises PersistenceError; the manifest on disk is then the one from
        `begin_rewrite`, which still loads everything.
        """
        manifest, base = self.manifest.with_new_base(keep_last_incr=self.incr is not None)
        target = self.file_path(base)
        try:
            os.rename(temp, target)  # the persist below fsyncs the directory
            self._persist(manifest)
        except OSError as error:
            with contextlib.suppress(OSError):
                target.unlink()
            raise PersistenceError(f"cannot install the rewritten AOF base: {error}") from error
        replaced = [self.file_path(entry) for entry in self.manifest.history]
        self.unlinking = threading.Thread(
            target=_unlink_all, args=(replaced,), name="queuekit-aof-unlink", daemon=True
        )
        self.unlinking.start()
        self._measure()
        self.size_at_rewrite = self.current_size
        return base

    def abort_rewrite(self, temp: Path) -> None:
        """A failed rewrite leaves only its temp file, which goes (rule 4)."""
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def delete_history(self) -> None:
        """Delete the files a rewrite replaced, then unlist them (rule 1), in the foreground."""
        if self.manifest.history:
            _unlink_all([self.file_path(entry) for entry in self.manifest.history])
            self._persist(self.manifest)

    # -- bookkeeping ----------------------------------------------------------------------

    def _persist(self, manifest: Manifest) -> None:
        """Write `manifest`, less the history whose files are gone (rule 1), durably."""
        history = tuple(entry for entry in manifest.history if self.file_path(entry).exists())
        if history != manifest.history:
            manifest = replace(manifest, history=history)
        write_durably(self.manifest_path, manifest.render())
        self.manifest = manifest

    def _measure(self) -> None:
        """The sizes of the files that no longer grow (everything but the incr)."""
        sizes = {e.name: self.file_path(e).stat().st_size for e in self.manifest.files}
        base = self.manifest.base
        self.base_size = sizes[base.name] if base is not None else 0
        appended = self.incr is not None and self.manifest.incrs
        last = self.manifest.incrs[-1].name if appended else None
        self._sealed_bytes = sum(size for name, size in sizes.items() if name != last)

    def close(self) -> None:
        if self.incr is not None:
            self.incr.close()


# -- checking -----------------------------------------------------------------------------


def check_path(path: str | os.PathLike[str], *, fix: bool = False) -> list[CheckReport]:
    """`queuekit check-aof PATH`: a manifest, a directory holding one (appendonlydir
    or the data directory above it), or one file; a report per file checked.

    One file listed by a manifest beside it is not cut by `fix` unless it is
    the manifest's last file (rule 6). Raises CorruptManifestError, and
    PersistenceError for a directory without a manifest.
    """
    target = Path(path)
    if target.is_dir():
        for manifest in (target / MANIFEST_NAME, target / DIR_NAME / MANIFEST_NAME):
            if manifest.is_file():
                return check_directory(manifest, fix=fix)
        raise PersistenceError(f"{target} holds no AOF manifest ({MANIFEST_NAME})")
    if target.name.endswith(".manifest"):
        return check_directory(target, fix=fix)
    beside = target.parent / MANIFEST_NAME
    listed = [entry.name for entry in read_manifest(beside).files] if beside.is_file() else []
    if target.name in listed[:-1]:
        return [replace(check_aof(target), fixable=False)]
    return [check_aof(target, fix=fix)]


def check_directory(manifest_path: Path, *, fix: bool = False) -> list[CheckReport]:
    """Check each file the manifest lists, in order; `fix` may cut only the last one.

    A file that is not the last is reported with `fixable` False: cutting it
    would lose what the later files build on (loader rule 1). A missing
    file is reported as such. Raises CorruptManifestError.
    """
    files = read_manifest(manifest_path).files
    reports = []
    for index, entry in enumerate(files):
        path = manifest_path.parent / entry.name
        last = index == len(files) - 1
        if not path.is_file():
            reports.append(
                CheckReport(str(path), 0, 0, 0, "missing", "listed but not there", False)
            )
            continue
        report = check_aof(path, fix=fix and last)
        reports.append(report if last else replace(report, fixable=False))
    return reports


def _unlink_all(paths: list[Path]) -> None:
    """Delete the files a rewrite replaced; one that will not go stays listed (rule 1)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("aof_history_not_removed", file=path.name, error=str(error))
        else:
            log.info("aof_history_removed", file=path.name)
