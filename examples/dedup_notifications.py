"""Deduplicated notifications: SADD's reply says whether an id is new, so each is sent once.

The idiom: a set of ids already handled + an atomic SADD, whose reply is 1 if
the id was added now and 0 if it was there already:

    SADD sent_notifications <notification id>   -> 1: send it; 0: skip it

Checking and marking are one command, so two workers that receive the same
event at the same moment cannot both send it: exactly one SADD answers 1.
(A real app bounds the set: one set per day with a TTL of a few days, say.)

Note the order: the id is marked before the notification goes out, so a
sender that crashes in between loses that notification rather than sending it
twice; marking after sending would do the opposite. Pick the failure you prefer.

    python examples/dedup_notifications.py            # the embedded store
    python examples/dedup_notifications.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import queuekit

SENT = "example:sent_notifications"
# Events as a webhook might deliver them: retries repeat an id.
EVENTS = ["order-7:shipped", "order-8:shipped", "order-7:shipped", "order-7:delivered"]
RACERS = 4  # workers that receive the same event at once
BARRIER_TIMEOUT_S = 30.0

sent: list[str] = []
sent_lock = threading.Lock()


def notify(store: Any, notification_id: str) -> bool:
    """Send the notification unless it was sent before; whether this call sent it."""
    if store.sadd(SENT, notification_id) == 0:
        return False
    with sent_lock:
        sent.append(notification_id)  # stands in for the e-mail or push message
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(SENT)

    for event in EVENTS:
        verdict = "sent" if notify(store, event) else "skipped, already sent"
        print(f"SADD {SENT} {event} -> {verdict}")

    start_together = threading.Barrier(RACERS)

    def racer() -> None:
        start_together.wait(BARRIER_TIMEOUT_S)  # all SADD the same id at the same moment
        notify(store, "order-9:shipped")

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{RACERS} workers got order-9:shipped at once: sent {sent.count('order-9:shipped')}x")
    print(f"{len(EVENTS) + RACERS} deliveries, {len(sent)} notifications sent: {sorted(sent)}")


if __name__ == "__main__":
    main()
