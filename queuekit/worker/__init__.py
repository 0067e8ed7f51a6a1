"""`queuekit worker`: worker processes, their supervisor and their bookkeeping on the store.

cli.py          the `queuekit worker` command: flags, --check, exit codes
supervisor.py   spawns, restarts and signals the worker processes; --embedded
process.py      a worker process's main: signals, the watch on its parent
runtime.py      the process's loops: batched fetch, start, run and acknowledge; shutdown
fetch.py        taking jobs off the ready lists, at-most-once or at-least-once
bookkeeping.py  the registry, heartbeats, in-flight records and peaks, as commands
reaper.py       dead workers found by their heartbeat; their jobs lost or redelivered
health.py       reading the registry: live, stalled (--check, queuekit info)
loader.py       the TaskSets of the modules named on the command line
settings.py     WorkerSettings (from_env)
"""

from __future__ import annotations
