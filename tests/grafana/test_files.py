"""grafana/: dashboard, alert rules and README use real metric names and say what they answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Metric

from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.connect import connect
from queuekit.engine.clock import FakeClock
from queuekit.jobs import JobClient, TaskSet, Worker
from queuekit.jobs.keys import WORKERS, queue_keys, worker_alive, worker_info
from queuekit.metrics import BuildInfoCollector, StoreCollector
from queuekit.metrics.server import server_registry
from queuekit.metrics.supervisor import SupervisorCollector
from tests.grafana import files
from tests.metrics.test_names import job_metrics
from tests.support.queuekit_server import running_server

PACKAGE = Path(__file__).resolve().parents[2] / "queuekit"
# A stats counter the job layer increments: HINCRBY <queue keys>.stats b"<field>" n.
STATS_FIELD = re.compile(r'HINCRBY",\s*\w+\.stats,\s*b"([a-z_]+)"')
ROWS = {"overview", "tasks", "workers", "store", "loss"}


def stats_fields() -> set[str]:
    """Every stats-hash field the package increments by a literal name."""
    fields = set()
    for path in PACKAGE.rglob("*.py"):
        fields.update(STATS_FIELD.findall(path.read_text()))
    return fields


def store_families() -> list[Metric]:
    """A StoreCollector over a store where jobs ran, one was deduplicated, a worker lives,
    and every stats field the job layer increments is present."""
    clock = FakeClock()
    memory = MemoryStore(clock=clock)
    client = MemoryClient(memory)
    tasks = TaskSet()

    @tasks.task(name="t.ok")
    def ok() -> None:
        pass

    @tasks.task(name="t.bad")
    def bad() -> None:
        raise RuntimeError("bad on purpose")

    jobs = JobClient(client, tasks=tasks, clock=clock)
    jobs.enqueue("t.ok")
    jobs.enqueue("t.bad")
    jobs.enqueue("t.ok", _dedup_key="k")
    jobs.enqueue("t.ok", _dedup_key="k")
    Worker(client, tasks, clock=clock).run_burst()
    jobs.enqueue("t.ok")  # left waiting: the queue has a length and an oldest job
    stats = queue_keys("default").stats
    for field in sorted(stats_fields()):
        client.execute(b"HINCRBY", stats, field.encode(), 0)
    client.execute(b"SADD", WORKERS, b"w")
    client.execute(b"HSET", worker_info("w"), b"queues", b"default", b"last_progress", 1)
    client.execute(b"SET", worker_alive("w"), b"1")
    registry = CollectorRegistry()
    registry.register(StoreCollector(client, clock=clock))
    collected = list(registry.collect())
    memory.close()
    return collected


def server_families() -> list[Metric]:
    """The server's collector, read on its loop after a job was enqueued through it."""
    with running_server() as running:
        client = connect(running.url)
        try:
            JobClient(client).enqueue("t.ok", 1)
        finally:
            client.close()
        return running.call(lambda: list(server_registry(running.server).collect()))


def families() -> Iterator[Metric]:
    yield from job_metrics().collect()
    yield from store_families()
    yield from server_families()
    supervisor = SupervisorCollector()
    supervisor.worker_restarted("crash")
    yield from supervisor.collect()
    yield from BuildInfoCollector().collect()


def exposed_names() -> set[str]:
    """Every series name the registries expose, as PromQL sees them."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names: set[str] = set()
    for family in families():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_name_in_grafana_exists_in_the_registries() -> None:
    """Each queuekit_* name in the dashboard, alert rules and README is one queuekit exposes."""
    used = files.metric_names_used()
    assert len(used) > 30, sorted(used)  # the dashboard and rules were read
    exposed = exposed_names()
    unknown = {name: sorted(where) for name, where in used.items() if name not in exposed}
    assert not unknown, f"names queuekit does not expose: {unknown}"


def test_dashboard_uses_the_current_schema_and_a_datasource_variable() -> None:
    """schemaVersion 39+, every panel and target on ${datasource}, queue and task variables."""
    board = files.dashboard()
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {name for name, _, _ in files.variable_selectors()} == {"queue", "task"}
    for panel in files.panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_has_the_rows_and_every_panel_says_its_question() -> None:
    """Rows for overview, tasks, workers, store and loss; each panel's description is a question."""
    board = files.dashboard()
    rows = [p["title"].lower() for p in files.panels(board) if p["type"] == "row"]
    assert all(any(row.startswith(word) for row in rows) for word in ROWS), rows
    ids = [panel["id"] for panel in files.panels(board)]
    assert len(ids) == len(set(ids))
    for panel in files.panels(board):
        if panel["type"] != "row":
            assert panel["description"].endswith("?"), panel["title"]
            assert panel["targets"], panel["title"]


def test_dashboard_shows_p50_p95_p99_of_both_histograms() -> None:
    """histogram_quantile over rate(..._bucket) summed by le, for duration and queue wait."""
    exprs = [expr for _, expr in files.dashboard_expressions()]
    for metric in ("queuekit_job_duration_seconds", "queuekit_job_queue_wait_seconds"):
        for quantile in ("0.5", "0.95", "0.99"):
            pattern = re.compile(
                rf"histogram_quantile\({quantile}, sum by \((\w+, )?le\) "
                rf"\(rate\({metric}_bucket\{{"
            )
            assert any(pattern.match(expr) for expr in exprs), (metric, quantile)


def test_every_expression_takes_every_variable_substitution() -> None:
    """Only known Grafana variables appear in expressions (the Prometheus test replaces them)."""
    for title, expr in files.dashboard_expressions():
        assert files.substitute(expr), title


def test_every_alert_rule_has_for_severity_summary_and_description() -> None:
    """Each alert waits with `for:`, carries a severity, and says what happened and what to do."""
    blocks = files.alert_blocks()
    wanted = {
        "QueuekitHighFailureRatio",
        "QueuekitBacklog",
        "QueuekitOldestJobTooOld",
        "QueuekitNoProgress",
        "QueuekitJobsLost",
        "QueuekitStoreMemoryNearMax",
    }
    assert wanted <= set(blocks), sorted(blocks)
    for name, block in blocks.items():
        for key in ("expr:", "for:", "severity:", "summary:", "description:"):
            assert re.search(rf"^\s+{key}", block, re.MULTILINE), (name, key)
        assert re.search(r"severity: (warning|critical)\b", block), name


def test_the_readme_explains_every_panel_and_alert() -> None:
    """grafana/README.md names each panel and each alert rule."""
    readme = files.README.read_text()
    titles = [p["title"] for p in files.panels(files.dashboard()) if p["type"] != "row"]
    missing = [title for title in titles if title not in readme]
    missing += [name for name in files.alert_blocks() if name not in readme]
    assert not missing, missing


def test_as_bool_turns_comparisons_with_numbers_into_bool_and_leaves_matchers() -> None:
    """as_bool rewrites `> 0.9` and `== 0` but not label matchers such as !="x" or =~"a"."""
    expr = 'a{x!="1", y=~"2"} > 0.9 and on () b == 0 or c >= 1'
    wanted = 'a{x!="1", y=~"2"} > bool 0.9 and on () b == bool 0 or c >= bool 1'
    assert files.as_bool(expr) == wanted
