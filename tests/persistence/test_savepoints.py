"""Save points: Redis's `save` text, and when one is met."""

from __future__ import annotations

import argparse

import pytest

from queuekit.persistence.savepoints import (
    DEFAULT_SAVE_POINTS,
    SavePoint,
    due,
    format_save_points,
    parse_save_points,
)
from queuekit.server import cli
from queuekit.server.config import ServerConfig


def test_the_text_parses_into_pairs_and_formats_back() -> None:
    """The text "SECONDS CHANGES ..." is pairs in order; formatting gives it back."""
    points = parse_save_points(DEFAULT_SAVE_POINTS)
    assert points == (SavePoint(3600, 1), SavePoint(300, 100), SavePoint(60, 10000))
    assert format_save_points(points) == DEFAULT_SAVE_POINTS
    assert parse_save_points("") == () and format_save_points(()) == ""


@pytest.mark.parametrize("text", ["60", "60 1 300", "60 -1", "1.5 1", "ten 1"])
def test_malformed_text_is_refused_naming_it(text: str) -> None:
    """An odd count or a non-number is a ValueError that quotes what was wrong."""
    with pytest.raises(ValueError, match="save"):
        parse_save_points(text)


def test_a_point_is_met_by_enough_changes_after_more_than_its_seconds() -> None:
    """Both conditions must hold; the first point met is the one returned."""
    points = parse_save_points("300 100 60 10000")
    assert due(points, changes=99, since_save_s=1000.0) is None
    assert due(points, changes=100, since_save_s=300.0) is None  # more than, as Redis's
    assert due(points, changes=100, since_save_s=300.5) == SavePoint(300, 100)
    assert due(points, changes=10_000, since_save_s=61.0) == SavePoint(60, 10000)
    assert due((), changes=10**9, since_save_s=10**9) is None


def test_redis_default_applies_only_with_a_data_directory() -> None:
    """No --save: Redis's points with a data dir, none without; "" turns them off."""
    assert ServerConfig().save_points == ()
    with_dir = ServerConfig(data_dir="/tmp/x")
    assert format_save_points(with_dir.save_points) == DEFAULT_SAVE_POINTS
    assert ServerConfig(data_dir="/tmp/x", save=()).save_points == ()


def test_save_points_without_a_data_directory_are_refused() -> None:
    """Save points need somewhere to write; the error names both settings."""
    with pytest.raises(ValueError, match="--save '60 1' needs --data-dir"):
        ServerConfig(save=parse_save_points("60 1"))


def test_queuekit_save_and_the_flag_set_them_the_flag_winning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QUEUEKIT_SAVE gives the points; --save beats it, and --save "" turns them off."""
    monkeypatch.setenv("QUEUEKIT_SAVE", "60 5")
    monkeypatch.setenv("QUEUEKIT_DATA_DIR", "/tmp/x")
    assert ServerConfig.from_env().save_points == (SavePoint(60, 5),)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    assert cli.config_from(parser.parse_args(["server", "--save", ""])).save_points == ()
