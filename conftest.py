"""pytest's rootdir conftest, shared by every ``tests/`` directory of this repository.

Test modules are imported in importlib mode (distributions' tests share module names, such
as ``test_provider_conformance.py``), which names a test module after its path and imports
its missing parents from folders. The grouping and video bases live in folders named like
their packages (``recoil_plugins_grouping/``, ``recoil_plugins_video/``): imported that way,
the folder would shadow the installed package. Importing the installed packages first keeps
the names theirs.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

import pytest

for _package in ("recoil_plugins_grouping", "recoil_plugins_video"):
    # Not installed when one plugin's tests run in isolation: nothing to shadow then.
    with contextlib.suppress(ModuleNotFoundError):
        importlib.import_module(_package)


@pytest.fixture(autouse=True, scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``recoil plugins list`` keeps its output under ``XDG_CACHE_HOME``: the suite's
    ``recoil`` processes keep theirs in a folder of the run, not in the user's home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache-home")))
    yield
    patch.undo()
