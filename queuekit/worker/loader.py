"""Loading the tasks a worker runs from the modules named on its command line.

    load_tasks(["app.tasks"])              every TaskSet at the module's top level
    load_tasks(["app.tasks:mail"])         that TaskSet (or that one Task)
    load_tasks(["app.tasks", "billing"])   all of them, merged into one TaskSet

Rules:
1. The current directory is searched first, as `python -m` does, so
   `queuekit worker app.tasks` finds ./app/tasks.py however queuekit was started.
2. Only what is named is imported; a worker runs only the tasks these modules
   register (DESIGN invariant 4: nothing in a payload can import anything).
3. A name that cannot be used is a UsageError saying which and why; an error
   raised inside a module being imported is not ours to reword and propagates
   with its traceback.
4. Two tasks with one name and different functions are an error
   (TaskSet.include), never one silently shadowing the other.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from queuekit.errors import UsageError
from queuekit.jobs.tasks import Task, TaskSet


def load_tasks(modules: Iterable[str]) -> TaskSet:
    """One TaskSet with the tasks of every `module` or `module:attribute` named."""
    _search_current_directory()
    merged = TaskSet()
    for spec in modules:
        merged.include(*_task_sets(spec))
    return merged


def _search_current_directory() -> None:
    """Put the current directory first on sys.path unless it is there (as '' or by name)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _task_sets(spec: str) -> list[TaskSet]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or (":" in spec and not attribute):
        raise UsageError(
            f"worker module {spec!r} must be 'package.module' or 'package.module:name'"
        )
    module = _import(module_name)
    if attribute:
        return [_named(module, spec, attribute)]
    found = [value for value in vars(module).values() if isinstance(value, TaskSet)]
    if not found:
        raise UsageError(
            f"module {module_name!r} ({module.__file__}) has no TaskSet at its top level; "
            "define one (tasks = TaskSet()) or name it: module:attribute"
        )
    return found


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Only the named module (or a package on its path) being absent is a usage
        # error; a module that imports something missing shows its own traceback.
        if error.name is None or not _is_prefix(error.name, module_name):
            raise
        raise UsageError(
            f"cannot import worker module {module_name!r}: no module named {error.name!r} "
            f"in the current directory ({os.getcwd()}) or on sys.path"
        ) from None


def _is_prefix(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")


def _named(module: ModuleType, spec: str, attribute: str) -> TaskSet:
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            known = sorted(name for name, item in vars(module).items() if _usable(item))
            raise UsageError(
                f"worker module {spec!r}: {module.__name__!r} has no attribute {attribute!r}"
                f" (its TaskSets and tasks: {', '.join(known) or 'none'})"
            )
        value = getattr(value, part)
    if isinstance(value, TaskSet):
        return value
    if isinstance(value, Task):
        return _only(value)
    raise UsageError(
        f"worker module {spec!r} is of type {type(value).__name__}, not a TaskSet or a task"
    )


def _usable(item: object) -> bool:
    return isinstance(item, TaskSet | Task)


def _only(task: Task[Any, Any]) -> TaskSet:
    """A TaskSet holding just `task`, the same Task object (`module:task_function`)."""
    single = TaskSet(url=task.taskset.url)
    # include() takes TaskSets, not tasks, and registering the function again would
    # make a second Task with the same name; so the one task is placed directly.
    single._tasks[task.name] = task
    return single
