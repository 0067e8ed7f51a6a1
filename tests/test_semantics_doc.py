"""docs/semantics.md names the test behind each statement: every named test must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_named_in_the_semantics_doc_exists() -> None:
    """A renamed or deleted test cannot leave a statement of the doc unbacked."""
    named = set(re.findall(r"`(test_\w+)`", (ROOT / "docs" / "semantics.md").read_text()))
    assert len(named) >= 20
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    defined = set(re.findall(r"^(?:async )?def (test_\w+)\(", sources, re.MULTILINE))
    assert sorted(named - defined) == []
