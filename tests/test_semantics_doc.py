"""The docs that promise behaviour name the test behind each statement: every named test
must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `test_name` or `test_name[param]`, in backticks.
NAMED_TEST = re.compile(r"`(test_\w+)(?:\[[^\]`]*\])?`")


@pytest.mark.parametrize(("doc", "at_least"), [("semantics.md", 20), ("persistence.md", 15)])
def test_every_test_named_in_the_doc_exists(doc: str, at_least: int) -> None:
    """A renamed or deleted test cannot leave a statement of the doc unbacked."""
    named = set(NAMED_TEST.findall((ROOT / "docs" / doc).read_text()))
    assert len(named) >= at_least
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    defined = set(re.findall(r"^(?:async )?def (test_\w+)\(", sources, re.MULTILINE))
    assert sorted(named - defined) == []
