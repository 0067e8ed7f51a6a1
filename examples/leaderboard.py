"""A leaderboard: a sorted set keeps players ordered by score; top N and rank are one command each.

The idiom: a sorted set (member = player, score = points) + atomic ZADD and
ZINCRBY to set or add to a score + ZREVRANGE for the top N and ZREVRANK for a
player's place, each O(log N) however many players there are:

    ZADD leaderboard 9500 player_42
    ZREVRANGE leaderboard 0 9 WITHSCORES     (the top 10)
    ZREVRANK leaderboard player_42           (0 is first place)

A leaderboard is often data you keep, so it usually gets no TTL; a weekly
board would be one key per week with a TTL of a few weeks.

    python examples/leaderboard.py                    # the embedded store
    python examples/leaderboard.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
from typing import Any

import queuekit

BOARD = "example:leaderboard"
SCORES: dict[str, float] = {
    "player_7": 8700,
    "player_13": 9100,
    "player_42": 9500,
    "player_99": 7200,
}
TOP = 3


def show_top(store: Any) -> None:
    top = store.execute("ZREVRANGE", BOARD, 0, TOP - 1, "WITHSCORES")
    print(f"ZREVRANGE {BOARD} 0 {TOP - 1} WITHSCORES:")
    for place, (player, score) in enumerate(top, 1):
        print(f"  {place}. {player.decode():<10} {score:>6.0f}")


def show_rank(store: Any, player: str) -> None:
    rank = store.execute("ZREVRANK", BOARD, player)  # 0-based; None if not on the board
    place = "not on the board" if rank is None else f"place {rank + 1}"
    print(f"ZREVRANK {BOARD} {player} -> {rank} ({place})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(BOARD)

    added = store.zadd(BOARD, SCORES)
    print(f"ZADD {BOARD} with {len(SCORES)} players -> {added} added")
    show_top(store)
    show_rank(store, "player_7")

    # A game ends: player_7 scores 1000 more. ZINCRBY adds atomically, so two
    # game servers reporting at once both count.
    new_score = store.execute("ZINCRBY", BOARD, 1000, "player_7")
    print(f"ZINCRBY {BOARD} 1000 player_7 -> {new_score:.0f}")
    show_top(store)
    show_rank(store, "player_7")
    show_rank(store, "player_1")


if __name__ == "__main__":
    main()
