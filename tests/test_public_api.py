"""The public API is exactly `queuekit.__all__`: curated, importable, complete."""

from __future__ import annotations
import __future__

import ast
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import queuekit

INIT = Path(queuekit.__file__)


def imported_in_init() -> dict[str, str]:
    """Name -> module of what __init__.py imports by name, at the top level and
    under `if typing.TYPE_CHECKING:` (what type checkers see)."""
    names: dict[str, str] = {}
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "typing.TYPE_CHECKING":
            statements = node.body
        else:
            statements = [node]
        for statement in statements:
            if isinstance(statement, ast.ImportFrom) and statement.module != "__future__":
                assert statement.module is not None
                names.update((alias.name, statement.module) for alias in statement.names)
    return names


def test_all_has_no_duplicates() -> None:
    """Each name appears in __all__ once."""
    assert len(queuekit.__all__) == len(set(queuekit.__all__))


def test_type_checkers_see_what_runs() -> None:
    """The TYPE_CHECKING imports are the lazy names, from the same modules."""
    assert imported_in_init() == queuekit._PUBLIC
    assert queuekit.__all__ == list(queuekit._PUBLIC)


HEAVY_PARTS = (
    "queuekit.engine.engine",
    "queuekit.client.memory",
    "queuekit.client.cluster",
    "queuekit.persistence",
    "queuekit.jobs",
    "queuekit.server",
)


def test_importing_the_package_loads_no_heavy_part() -> None:
    """`import queuekit` loads `connect` and the network client, nothing it might
    not use: the engine and the in-process store load on first use."""
    code = "import sys, queuekit; print(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "queuekit.connect" in loaded
    assert not [name for name in loaded if name.startswith(HEAVY_PARTS)]


def test_every_exported_name_exists() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in queuekit.__all__ if not hasattr(queuekit, name)]
    assert not missing


def test_nothing_public_is_missing_from_all() -> None:
    """Every public, non-module attribute of the package is in __all__."""
    for name in queuekit.__all__:
        getattr(queuekit, name)  # every lazy name loaded, as after `import *`
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
