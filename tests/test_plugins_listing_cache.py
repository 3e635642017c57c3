"""`recoil plugins list` prints its stored output only while nothing it came from changed.

Real `recoil` subprocesses against real throwaway distributions; each plugin module counts
its imports in a file, so a test sees whether the listing was stored text or a full run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recoil_core.testing.distributions import pythonpath_env, write_distribution

RECOIL = str(Path(sys.executable).with_name("recoil"))
if not Path(RECOIL).exists():  # pragma: no cover - non-venv layouts
    RECOIL = shutil.which("recoil") or "recoil"


def _plugin(counter: Path, strategy: str, *, then: str = "") -> str:
    return (
        "from recoil_core import hookimpl\n"
        f"with open({str(counter)!r}, 'a') as _f:\n"
        "    _f.write('x')\n"
        f"{then}"
        "class Strategy:\n"
        "    description = 'cached test strategy'\n"
        "    def __init__(self, name):\n"
        "        self.name = name\n"
        "    def assemble(self, shots, ctx):\n"
        "        return []\n"
        "@hookimpl\n"
        "def recoil_grouping_strategies():\n"
        f"    return [Strategy({strategy!r})]\n"
    )


def _age(root: Path, seconds: float = 60.0) -> None:
    """Date ``root`` and everything in it back: older than the listing's racy window."""
    past = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write_distribution(
        root,
        "recoil-cached",
        entry_points={"cached": "recoil_test_cached"},
        modules={"recoil_test_cached": _plugin(tmp_path / "imports", "cached_solo")},
    )
    _age(root)
    return root


def imports(site: Path) -> int:
    counter = site.parent / "imports"
    return len(counter.read_text()) if counter.exists() else 0


def recoil(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    base["XDG_CACHE_HOME"] = str(site.parent / "cache")
    # no __pycache__ appears in the site folder: its mtime stays as the test left it
    base["PYTHONDONTWRITEBYTECODE"] = "1"
    full_env = pythonpath_env(site, base={**base, "RECOIL_LOAD_PLUGINS": "cached", **env})
    result = subprocess.run(
        [RECOIL, *args], env=full_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def test_a_second_listing_prints_the_same_bytes_without_importing_the_plugin(
    site: Path,
) -> None:
    first = recoil(site, "plugins", "list")
    assert "grouping:cached_solo" in first.stdout
    assert imports(site) == 1
    again = recoil(site, "plugins", "list")
    as_json = recoil(site, "plugins", "list", "--json")
    assert imports(site) == 1  # both answered from the stored listing
    assert again.stdout == first.stdout and again.stderr == ""
    entries = {entry["name"]: entry for entry in json.loads(as_json.stdout)}
    assert entries["cached"]["provides"] == ["grouping:cached_solo"]
    assert entries["cached"]["status"] == "ok"

    (site.parent / "cache").rename(site.parent / "elsewhere")  # no stored listing: a full run
    full = recoil(site, "plugins", "list", "--json")
    assert full.stdout == as_json.stdout
    assert imports(site) == 2


def test_editing_a_plugin_module_is_seen_by_the_next_listing(site: Path) -> None:
    recoil(site, "plugins", "list")
    module = site / "recoil_test_cached.py"
    module.write_text(_plugin(site.parent / "imports", "cached_wide"))
    _age(site, seconds=30)  # a different mtime, still outside the racy window
    after = recoil(site, "plugins", "list")
    assert "grouping:cached_wide" in after.stdout
    assert imports(site) == 2


def test_installing_and_removing_a_distribution_is_seen_by_the_next_listing(
    site: Path,
) -> None:
    recoil(site, "plugins", "list")
    write_distribution(
        site,
        "recoil-second",
        entry_points={"second": "recoil_test_second"},
        modules={"recoil_test_second": _plugin(site.parent / "imports", "second_solo")},
    )
    _age(site)
    listed = recoil(site, "plugins", "list", RECOIL_LOAD_PLUGINS="cached,second")
    assert "grouping:second_solo" in listed.stdout
    recoil(site, "plugins", "list", RECOIL_LOAD_PLUGINS="cached,second")
    assert imports(site) == 3  # first listing, then both plugins once; the repeat was stored

    shutil.rmtree(next(site.glob("recoil_second-*.dist-info")))
    gone = recoil(site, "plugins", "list", RECOIL_LOAD_PLUGINS="cached,second")
    assert "second" not in gone.stdout


def test_the_recoil_environment_is_part_of_what_the_listing_depends_on(site: Path) -> None:
    recoil(site, "plugins", "list")
    disabled = recoil(site, "plugins", "list", RECOIL_DISABLE_PLUGINS="cached")
    assert "disabled" in disabled.stdout and "grouping:cached_solo" not in disabled.stdout
    enabled = recoil(site, "plugins", "list")
    assert "grouping:cached_solo" in enabled.stdout and " ok" in enabled.stdout


def test_a_listing_with_a_failed_plugin_is_never_stored(site: Path, tmp_path: Path) -> None:
    module = site / "recoil_test_cached.py"
    module.write_text(_plugin(tmp_path / "imports", "x", then="raise RuntimeError('boom')\n"))
    _age(site)
    for _ in range(2):
        assert "boom" in recoil(site, "plugins", "list").stdout
    assert imports(site) == 2
    module.write_text(_plugin(tmp_path / "imports", "fixed_solo"))
    _age(site, seconds=30)
    assert "grouping:fixed_solo" in recoil(site, "plugins", "list").stdout


def test_files_changed_just_before_the_listing_are_not_trusted(site: Path) -> None:
    (site / "recoil_test_cached.py").touch()  # modified now: within the racy window
    recoil(site, "plugins", "list")
    recoil(site, "plugins", "list")
    assert imports(site) == 2
    assert not (site.parent / "cache").exists() or not any((site.parent / "cache").rglob("*.json"))


@pytest.mark.parametrize("value", ["off", "0"])
def test_the_cache_can_be_turned_off(site: Path, value: str) -> None:
    for _ in range(2):
        recoil(site, "plugins", "list", RECOIL_LISTING_CACHE=value)
    assert imports(site) == 2


def test_other_command_lines_always_run_the_full_listing(site: Path) -> None:
    recoil(site, "plugins", "list")
    recoil(site, "plugins", "list", "--hook", "grouping_strategies")
    recoil(site, "--debug", "plugins", "list")
    recoil(site, "plugins", "list", "--check")
    assert imports(site) == 4


def test_a_damaged_stored_listing_is_ignored(site: Path) -> None:
    first = recoil(site, "plugins", "list").stdout
    (stored,) = (site.parent / "cache").rglob("*.json")
    for damage in (b"{not json", b"[]", json.dumps({"format": 1, "plain": 1}).encode()):
        stored.write_bytes(damage)
        assert recoil(site, "plugins", "list").stdout == first
    assert imports(site) == 4


def test_no_recoil_variable_value_is_written_to_the_stored_listing(site: Path) -> None:
    secret = "postgresql://studio:hunter2-not-a-real-password@127.0.0.1/recoil"
    recoil(site, "plugins", "list", RECOIL_DATABASE_URL=secret)
    (stored,) = (site.parent / "cache").rglob("*.json")
    assert "hunter2" not in stored.read_text()


def test_a_terminal_always_gets_the_table_drawn_to_its_width(site: Path) -> None:
    import pty

    recoil(site, "plugins", "list")  # stored
    primary, secondary = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env = pythonpath_env(
        site,
        base={
            **base,
            "XDG_CACHE_HOME": str(site.parent / "cache"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "RECOIL_LOAD_PLUGINS": "cached",
            "COLUMNS": "200",
        },
    )
    try:
        process = subprocess.run(
            [RECOIL, "plugins", "list"], env=env, stdout=secondary, timeout=60, check=True
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    drawn = b"".join(chunks).decode("utf-8", "replace")
    assert process.returncode == 0
    assert "grouping:cached_solo" in drawn and "NAME  " not in drawn  # rich's table, not plain
    assert imports(site) == 2  # the terminal's listing imported the plugin again
