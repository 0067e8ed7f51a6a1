"""Units for the sampler behind SPOP, SRANDMEMBER and HRANDFIELD: pools that go stale."""

from __future__ import annotations

from queuekit.engine.sampling import COPY_MAX, MAX_POOLS, Sampler

LARGE = COPY_MAX * 3


def names(count: int, prefix: str = "m") -> set[bytes]:
    return {f"{prefix}{n}".encode() for n in range(count)}


def test_picks_after_most_members_left_are_current_and_distinct() -> None:
    """A pool whose members mostly left the set still yields only current, distinct members."""
    sampler = Sampler()
    members = names(LARGE)
    sampler.one(members)
    keep = set(list(members)[: COPY_MAX + 10])
    members &= keep
    picked = sampler.distinct(members, 300)
    assert len(set(picked)) == 300 and set(picked) <= keep
    assert set(sampler.repeats(members, 500)) <= keep
    assert sampler.one(members) in keep


def test_pop_refills_a_dry_pool_with_later_members() -> None:
    """SPOP's pool is refreshed when it runs dry, so members added later are popped too."""
    sampler = Sampler()
    members = names(LARGE)
    popped = sampler.pop(members, 10)
    members |= names(LARGE, prefix="late")
    expected = (names(LARGE) - set(popped)) | names(LARGE, prefix="late")
    drained: list[bytes] = []
    while len(members) > 1:
        drained += sampler.pop(members, min(100, len(members) - 1))
    drained += list(members)
    assert sorted(drained) == sorted(expected)


def test_pools_are_bounded() -> None:
    """Only the most recently sampled MAX_POOLS collections keep a pool."""
    sampler = Sampler()
    collections = [names(COPY_MAX + 1, prefix=f"c{n}-") for n in range(MAX_POOLS + 3)]
    for collection in collections:
        sampler.one(collection)
    assert len(sampler._pools) == MAX_POOLS


def test_small_collections_are_sampled_without_a_pool() -> None:
    """Collections of at most COPY_MAX members are copied, never pooled."""
    sampler = Sampler()
    members = names(COPY_MAX)
    sampler.one(members)
    sampler.distinct(members, 10)
    sampler.pop(members, 10)
    assert len(members) == COPY_MAX - 10
    assert sampler._pools == {}


def test_dict_fields_are_sampled() -> None:
    """A hash's fields are its dict keys; picks are fields, never values."""
    sampler = Sampler()
    fields = {f"f{n}".encode(): b"v" for n in range(LARGE)}
    assert set(sampler.distinct(fields, 50)) <= fields.keys()
    assert sampler.one(fields) in fields
