"""Reading grafana/: the dashboard's expressions, the alert rules, and the metric names used.

The files are read as text and JSON only (no YAML library: it is not a test
dependency); the real-Prometheus test gets the alert rules as Prometheus
itself parsed them, from its rules API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = GRAFANA / "queuekit.json"
ALERTS = GRAFANA / "alerts.yml"
README = GRAFANA / "README.md"

METRIC_NAME = re.compile(r"\bqueuekit_[a-z0-9_]*[a-z0-9]\b")
LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+),\s*(?P<label>\w+)\)\Z")
# Grafana's variables, as the test evaluates them: every queue and task, and a rate
# window of 1 minute (several scrapes at the test's 1 s interval).
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${queue}": ".*",
    "$queue": ".*",
    "${task}": ".*",
    "$task": ".*",
}
# A comparison with a number literal (not a label matcher: those are followed by a quote).
COMPARISON = re.compile(r"(?<![=!<>~])(>=|<=|==|!=|>|<)(?!=)\s*(?=[0-9.])")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (a collapsed row holds its panels)."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    ]


def variable_selectors() -> list[tuple[str, str, str]]:
    """(variable name, series selector, label) of every label_values() query variable."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.match(text)
        assert match is not None, f"variable {variable['name']}: {text!r} is not label_values()"
        found.append((variable["name"], match["selector"], match["label"]))
    return found


def substitute(expr: str) -> str:
    """`expr` with Grafana's variables replaced by what the test evaluates."""
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"an unknown variable is left in {expr!r}"
    return expr


def as_bool(expr: str) -> str:
    """`expr` with every comparison against a number made `bool`: 0 or 1 for each series
    instead of a filter, so the expression returns data whenever the series it reads
    exist, whether or not its condition holds now."""
    return COMPARISON.sub(lambda match: f"{match[1]} bool ", expr)


def alert_blocks() -> dict[str, str]:
    """Each alert rule's YAML text, by alert name."""
    text = ALERTS.read_text()
    parts = re.split(r"^\s*- alert:\s*", text, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def metric_names_used() -> dict[str, set[str]]:
    """Every queuekit_* name written anywhere in grafana/, with the files using it."""
    used: dict[str, set[str]] = {}
    for path in sorted(GRAFANA.rglob("*")):
        if path.is_file():
            for name in METRIC_NAME.findall(path.read_text()):
                used.setdefault(name, set()).add(str(path.relative_to(GRAFANA)))
    return used
