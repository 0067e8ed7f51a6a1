"""A job queue with a worker: the app enqueues, a worker pops each job and runs it.

The idiom underneath: a list + an atomic LPUSH (the producer) and a blocking
BRPOP (the worker, idle until a job arrives), as the seed document puts it:

    producer: LPUSH jobs "send_email:user_42"
    worker:   BRPOP jobs 0

queuekit's job layer is built on exactly that, plus what a bare list lacks:
typed arguments packed with msgpack, a job hash with its status, results kept
with a TTL, delays through a sorted set, retries and a failed registry. This
script declares a task, enqueues jobs (one delayed, then cancelled), and runs
a burst worker, which works until the queue is empty, in this process.

Delivery is at most once by default: a worker killed mid-job does not run
that job again (docs/jobs.md says what is and is not promised).

    python examples/job_queue.py                      # the embedded store
    python examples/job_queue.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse

import queuekit
from queuekit import Job, JobClient, TaskSet, Worker
from queuekit.logs import configure_logging

QUEUE = "examples"
RESULT_WAIT_S = 10.0

tasks = TaskSet()


@tasks.task(name="examples.send_email", queue=QUEUE, result_ttl=60)
def send_email(user: str, template: str = "welcome") -> str:
    return f"{template} email sent to {user}"


def enqueued(job: Job | None) -> Job:
    """The job handle; enqueue returns None only when dedup drops a job, never here."""
    assert job is not None
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    configure_logging()  # the worker logs one line per finished job, on stderr
    tasks.configure(JobClient(store, tasks=tasks))  # where send_email.enqueue() writes

    # The producer: each enqueue is one MULTI/EXEC with an LPUSH onto the queue.
    jobs = [enqueued(send_email.enqueue(user)) for user in ("user_42", "user_7", "user_13")]
    later = enqueued(send_email.using(delay=60).enqueue("user_99", template="reminder"))
    print(f"enqueued 3 jobs on queue {QUEUE!r}: {[job.status().value for job in jobs]}")
    print(f"and one due in 60 s: {later.status().value}")

    # The worker: BRPOP, run the task, record the outcome; in burst mode it
    # returns once the queue is empty (a `queuekit worker` keeps waiting).
    summary = Worker(store, tasks, queues=[QUEUE]).run_burst()
    print(f"burst worker: {summary.succeeded} succeeded, {summary.failed} failed")
    for job in jobs:
        print(f"  {job.status().value}: {job.result(RESULT_WAIT_S)}")

    print(f"the delayed job is still {later.status().value}; cancel it -> {later.cancel()}")
    print(f"its status now: {later.status().value}")


if __name__ == "__main__":
    main()
