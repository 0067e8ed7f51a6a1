"""Durability: the append-only file (issue 7).

    propagate.py  what each executed write becomes in the file (Propagation)
    aof.py        the file writer with the always/everysec/no fsync policies
    loader.py     load (replay into an engine) and check_aof (check, --fix)
    cli.py        `queuekit check-aof [--fix] FILE`

The engine knows nothing of files: it reports writes to a `Propagator`
(queuekit.engine.engine) and deletions to `Database.on_delete`.
"""
