"""Key names: every key of a queue carries its hash tag; queue names are checked."""

from __future__ import annotations

import pytest

from queuekit.errors import InvalidOptionError
from queuekit.jobs.keys import PRIORITY_LEVELS, QUEUE_NAME_MAX_BYTES, QUEUES, queue_keys


def test_every_queue_key_carries_the_hash_tag() -> None:
    """Each key name of a queue starts with qk:{<queue>}:."""
    keys = queue_keys("mail")
    names = [*keys.ready, keys.scheduled, keys.dedup, keys.stats]
    names += [keys.job("j1"), keys.result("j1"), keys.dedup_window("d")]
    assert all(name.startswith(b"qk:{mail}:") for name in names)
    assert len(keys.ready) == PRIORITY_LEVELS
    assert keys.ready[0] == b"qk:{mail}:ready:0"
    assert keys.job("j1") == b"qk:{mail}:job:j1"
    assert keys.dedup_window("d") == b"qk:{mail}:dedup:d"
    assert QUEUES == b"qk:queues"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("a{b", "hash tag"),
        ("a}b", "hash tag"),
        ("x" * (QUEUE_NAME_MAX_BYTES + 1), f"limit of {QUEUE_NAME_MAX_BYTES} bytes"),
        (7, "must be a str"),
    ],
)
def test_bad_queue_names_are_refused_with_the_reason(name: object, fragment: str) -> None:
    """A bad queue name raises InvalidOptionError naming the problem."""
    with pytest.raises(InvalidOptionError, match=fragment):
        queue_keys(name)  # type: ignore[arg-type, unused-ignore]


def test_a_queue_name_at_the_limit_is_accepted() -> None:
    """A name of exactly QUEUE_NAME_MAX_BYTES bytes is fine."""
    assert queue_keys("q" * QUEUE_NAME_MAX_BYTES).queue == "q" * QUEUE_NAME_MAX_BYTES
