"""Durability: the append-only file and snapshots (issue 7).

    propagate.py  what each executed write becomes in the file (Propagation)
    aof.py        the file writer with the always/everysec/no fsync policies
    loader.py     load / load_files (replay into an engine) and check_aof (check, --fix)
    manifest.py   the multi-part AOF's manifest (Redis 7's appendonlydir layout)
    aofdir.py     one data directory's AOF: upgrade, load, open, rewrite steps, check
    rewrite.py    the dataset as commands: a rewrite's new base file
    files.py      temp file, fsync, rename, directory fsync
    cli.py        `queuekit check-aof [--fix] PATH`
    snapshot.py   the snapshot file (dump.qkdb): write, load, check
    savepoints.py when the server snapshots on its own (`save "SECONDS CHANGES ..."`)
    fork.py       the one persistence child: fork, poll, kill (BGSAVE, BGREWRITEAOF)
    snapshot_cli.py  `queuekit check-snapshot FILE`

The engine knows nothing of files: it reports writes to a `Propagator`
(queuekit.engine.engine) and deletions to `Database.on_delete`.
"""
