"""Putting a persistence file in place so that a crash leaves the old one or the new one.

    write_durably(path, data)          a small file (a manifest), whole or not at all
    install(temp, path)                a finished, fsynced temp file renamed into place
    fsync_directory(path)              make renames and creations in a directory durable

Rules (Redis's writeAofManifestFile, rdbSave and fsyncFileDir):
1. A new file is written under a temp name in the directory it will live in
   (a rename is atomic only within one file system), fsynced, renamed over
   its final name, and then the directory itself is fsynced: until that
   last fsync the rename may be lost in a power cut, and with it the file.
2. Nothing here deletes or truncates a file that holds data; a failure
   leaves the old file in place and removes only the temp file it made.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Redis's temp-file prefix ("temp-appendonly.aof.manifest", "temp-rewriteaof-bg-PID.aof").
TEMP_PREFIX = "temp-"


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so the names created or renamed in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(temp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Rename the fsynced file `temp` over `path` and fsync their directory (rule 1)."""
    os.replace(temp, path)
    fsync_directory(Path(path).parent)


def write_durably(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data`: after a crash it holds the old or the new
    bytes, never a mix (rule 1). Raises OSError; the old file is then untouched."""
    final = Path(path)
    temp = final.with_name(TEMP_PREFIX + final.name)
    try:
        with open(temp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        install(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
