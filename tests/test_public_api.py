"""The public API is exactly `queuekit.__all__`: curated, importable, complete."""

from __future__ import annotations
import __future__

import ast
from pathlib import Path
from types import ModuleType

import queuekit

INIT = Path(queuekit.__file__)


def bound_in_init() -> set[str]:
    """Names that queuekit/__init__.py binds at module level, read from its source."""
    names: set[str] = set()
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_all_has_no_duplicates() -> None:
    """Each name appears in __all__ once."""
    assert len(queuekit.__all__) == len(set(queuekit.__all__))


def test_all_is_what_init_curates() -> None:
    """__all__ lists exactly the public names that __init__.py imports or defines."""
    assert set(queuekit.__all__) == bound_in_init()


def test_every_exported_name_exists() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in queuekit.__all__ if not hasattr(queuekit, name)]
    assert not missing


def test_nothing_public_is_missing_from_all() -> None:
    """Every public, non-module attribute of the package is in __all__."""
    public = {
        name
        for name, value in vars(queuekit).items()
        if not name.startswith("_") and not isinstance(value, ModuleType | __future__._Feature)
    }
    assert public == set(queuekit.__all__)


def test_star_import_gives_the_curated_names() -> None:
    """`from queuekit import *` binds exactly __all__."""
    namespace: dict[str, object] = {}
    exec("from queuekit import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(queuekit.__all__)


def test_version_is_the_packaged_version() -> None:
    """queuekit.__version__ matches the installed distribution's version."""
    from importlib.metadata import version

    assert queuekit.__version__ == version("queuekit")
