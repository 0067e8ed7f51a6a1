"""`queuekit worker`: worker processes, their supervisor and their bookkeeping on the store.

    runtime.py      a worker process: batched fetch, start, run and acknowledge; shutdown
    fetch.py        taking jobs off the ready lists, at-most-once or at-least-once
    bookkeeping.py  the registry, heartbeats, in-flight records and peaks, as commands
    reaper.py       dead workers found by their heartbeat; their jobs lost or redelivered
    settings.py     WorkerSettings (from_env)
"""
