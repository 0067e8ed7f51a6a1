"""load_tasks: modules and module:attribute names into one TaskSet, with clear errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queuekit.errors import UsageError
from queuekit.worker.loader import load_tasks

TWO_SETS = """
    from queuekit.jobs import TaskSet

    mail = TaskSet()
    billing = TaskSet()
    not_tasks = 42

    @mail.task(name="send")
    def send(to: str) -> None: ...

    @billing.task(name="charge")
    def charge(amount: int) -> None: ...
"""


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write modules under tmp_path (on sys.path); forget them from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def write(name: str, source: str) -> str:
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            if parent != Path("."):
                (tmp_path / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))
        return name

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_module_gives_every_top_level_taskset(write_module: Callable[..., str]) -> None:
    """`pkg.mod` loads the tasks of each TaskSet at the module's top level."""
    module = write_module("loader_pkg.two_sets", TWO_SETS)
    assert sorted(task.name for task in load_tasks([module])) == ["charge", "send"]


def test_module_attribute_gives_that_taskset_only(write_module: Callable[..., str]) -> None:
    """`pkg.mod:name` loads only the TaskSet that name holds."""
    module = write_module("loader_attr", TWO_SETS)
    assert [task.name for task in load_tasks([f"{module}:billing"])] == ["charge"]


def test_module_attribute_may_name_one_task(write_module: Callable[..., str]) -> None:
    """`pkg.mod:function` loads just that task, the same Task object."""
    module = write_module("loader_one_task", TWO_SETS)
    tasks = load_tasks([f"{module}:send"])
    assert [task.name for task in tasks] == ["send"]
    assert tasks["send"] is sys.modules[module].send


def test_several_modules_are_merged(write_module: Callable[..., str]) -> None:
    """Tasks of several named modules end up in one TaskSet."""
    first = write_module("loader_merge_a", TWO_SETS)
    second = write_module(
        "loader_merge_b",
        """
        from queuekit.jobs import TaskSet
        reports = TaskSet()

        @reports.task(name="report")
        def report() -> None: ...
        """,
    )
    loaded = load_tasks([f"{first}:mail", second])
    assert sorted(task.name for task in loaded) == ["report", "send"]


def test_a_taskset_imported_twice_is_not_a_clash(write_module: Callable[..., str]) -> None:
    """A module re-exporting another's TaskSet loads its tasks once, without an error."""
    first = write_module("loader_origin", TWO_SETS)
    second = write_module("loader_reexport", f"from {first} import mail as tasks\n")
    assert sorted(task.name for task in load_tasks([first, second])) == ["charge", "send"]


def test_two_tasks_with_one_name_are_refused(write_module: Callable[..., str]) -> None:
    """Two different functions registered under one name in two modules are a UsageError."""
    first = write_module("loader_clash_a", TWO_SETS)
    second = write_module(
        "loader_clash_b",
        """
        from queuekit.jobs import TaskSet
        other = TaskSet()

        @other.task(name="send")
        def send_sms(to: str) -> None: ...
        """,
    )
    with pytest.raises(UsageError, match="'send' is registered twice"):
        load_tasks([first, second])


def test_missing_module_names_it() -> None:
    """A module that does not exist is a UsageError naming it and where it was looked for."""
    with pytest.raises(UsageError) as error:
        load_tasks(["no_such_worker_module.tasks"])
    message = str(error.value)
    assert "'no_such_worker_module.tasks'" in message
    assert "current directory" in message


def test_an_import_error_inside_a_module_propagates(write_module: Callable[..., str]) -> None:
    """A module that itself imports something missing raises that error, not a usage error."""
    module = write_module("loader_broken", "import no_such_dependency_of_tasks\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_tasks"):
        load_tasks([module])


def test_missing_attribute_lists_what_the_module_has(write_module: Callable[..., str]) -> None:
    """A missing attribute is a UsageError naming it and the module's TaskSets and tasks."""
    module = write_module("loader_missing_attr", TWO_SETS)
    with pytest.raises(UsageError) as error:
        load_tasks([f"{module}:mailer"])
    message = str(error.value)
    assert "'mailer'" in message
    assert "billing, charge, mail, send" in message


def test_an_attribute_that_is_not_a_taskset_is_refused(write_module: Callable[..., str]) -> None:
    """Naming something that is neither a TaskSet nor a task is a UsageError naming its type."""
    module = write_module("loader_not_tasks", TWO_SETS)
    with pytest.raises(UsageError, match="is of type int, not a TaskSet or a task"):
        load_tasks([f"{module}:not_tasks"])


def test_a_module_without_taskset_is_refused(write_module: Callable[..., str]) -> None:
    """A module with no TaskSet at its top level is a UsageError saying how to fix it."""
    module = write_module("loader_empty", "VALUE = 1\n")
    with pytest.raises(UsageError, match="has no TaskSet at its top level"):
        load_tasks([module])


@pytest.mark.parametrize("spec", ["loader_x:", ":tasks", ""])
def test_malformed_names_are_refused(spec: str) -> None:
    """An empty module or attribute part is a UsageError showing the expected form."""
    with pytest.raises(UsageError, match=r"must be 'package\.module'"):
        load_tasks([spec])


def test_the_current_directory_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like `python -m`, modules in the current directory load even when it is not on sys.path."""
    (tmp_path / "loader_cwd_tasks.py").write_text(textwrap.dedent(TWO_SETS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert len(load_tasks(["loader_cwd_tasks"])) == 2
        assert sys.path[0] == str(tmp_path)
    finally:
        sys.modules.pop("loader_cwd_tasks", None)
