"""`recoil plugins list` against real throwaway distributions with real entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pytest

from recoil_core import __version__ as KERNEL_VERSION
from recoil_core.testing.distributions import pythonpath_env, write_distribution

RECOIL = str(Path(sys.executable).with_name("recoil"))
if not Path(RECOIL).exists():  # pragma: no cover - non-venv layouts
    RECOIL = shutil.which("recoil") or "recoil"

OURS = (
    "broken",
    "dupa",
    "dupb",
    "future",
    "good",
    "misspelled",
    "notalist",
    "raiser",
    "watcher",
    "wrongtype",
)
REAL = ("animatic", "coverage", "filesystem", "grouping", "i2v", "r2v-multi", "seeddance", "video")
JSON_FIELDS = [
    "name",
    "distribution",
    "version",
    "status",
    "provides",
    "hooks",
    "error",
    "requires_core",
    "module",
    "conflicts",
    "models",
]

STRATEGY = """
from recoil_core import hookimpl


class Strategy:
    description = "test strategy"

    def __init__(self, name):
        self.name = name

    def assemble(self, shots, ctx):
        return []
"""


def _marker_source(marker: Path, then: str = "") -> str:
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n{then}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of throwaway distributions: one good, one observer, many broken."""
    root = tmp_path_factory.mktemp("site")
    markers = root / "markers"
    markers.mkdir()

    def dist(name: str, plugin: str, source: str, **kw: Any) -> None:
        module = f"recoil_test_{plugin}"
        write_distribution(
            root, name, entry_points={plugin: module}, modules={module: source}, **kw
        )

    dist(
        "recoil-good",
        "good",
        STRATEGY
        + '\n@hookimpl\ndef recoil_grouping_strategies():\n    return [Strategy("good_solo")]\n',
        version="1.2.3",
    )
    dist(
        "recoil-watcher",
        "watcher",
        "from recoil_core import hookimpl\n\n@hookimpl\ndef recoil_on_take_event(event):\n"
        "    pass\n",
    )
    dist(
        "recoil-broken",
        "broken",
        _marker_source(markers / "broken", "raise RuntimeError('boom at import')\n"),
    )
    dist(
        "recoil-misspelled",
        "misspelled",
        STRATEGY + '\n@hookimpl\ndef recoil_grouping_strategy():\n    return [Strategy("x")]\n',
    )
    for plugin in ("dupa", "dupb"):
        dist(
            f"recoil-{plugin}",
            plugin,
            STRATEGY + "\n@hookimpl\ndef recoil_grouping_strategies():\n"
            '    return [Strategy("shared")]\n',
        )
    dist(
        "recoil-future",
        "future",
        _marker_source(markers / "future"),
        version="9.0.0",
        requires=["recoil-core<10,>=9.0"],  # the order build tools write it in
    )
    dist(
        "recoil-raiser",
        "raiser",
        "from recoil_core import hookimpl\n\n@hookimpl\ndef recoil_grouping_strategies():\n"
        "    raise ValueError('cannot register today')\n",
    )
    dist(
        "recoil-wrongtype",
        "wrongtype",
        "from recoil_core import hookimpl\n\n@hookimpl\ndef recoil_grouping_strategies():\n"
        "    return ['not a strategy']\n",
    )
    dist(
        "recoil-notalist",
        "notalist",
        STRATEGY + '\n@hookimpl\ndef recoil_grouping_strategies():\n    return Strategy("lone")\n',
    )
    return root


def run(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    full_env = pythonpath_env(site, base={**base, **env})
    return subprocess.run(
        [RECOIL, *args], env=full_env, capture_output=True, text=True, timeout=60, check=False
    )


def listing(site: Path, *args: str, **env: str) -> dict[str, dict[str, Any]]:
    env.setdefault("RECOIL_LOAD_PLUGINS", ",".join(OURS))
    result = run(site, "plugins", "list", "--json", *args, **env)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout) if entry["name"] in OURS}


@pytest.fixture(autouse=True)
def _clear_markers(site: Path) -> None:
    for marker in (site / "markers").iterdir():
        marker.unlink()


def test_each_broken_plugin_fails_alone_and_the_good_one_keeps_working(site: Path) -> None:
    plugins = listing(site)

    assert {name: p["status"] for name, p in plugins.items()} == {
        "broken": "failed",
        "dupa": "conflict",
        "dupb": "conflict",
        "future": "incompatible",
        "good": "ok",
        "misspelled": "failed",
        "notalist": "failed",
        "raiser": "failed",
        "watcher": "ok",
        "wrongtype": "failed",
    }
    good = plugins["good"]
    assert good["provides"] == ["grouping:good_solo"]
    assert good["hooks"] == ["recoil_grouping_strategies"]
    assert (good["distribution"], good["version"]) == ("recoil-good", "1.2.3")
    assert good["error"] is None
    assert plugins["watcher"]["provides"] == ["observer:take"]
    assert "RuntimeError: boom at import" in plugins["broken"]["error"]
    assert "recoil_grouping_strategy" in plugins["misspelled"]["error"]
    assert "no spec" in plugins["misspelled"]["error"]
    assert "raised ValueError: cannot register today" in plugins["raiser"]["error"]
    assert "returned str, not a grouping strategy" in plugins["wrongtype"]["error"]
    assert "returned Strategy, not a list" in plugins["notalist"]["error"]
    for name in ("broken", "misspelled", "raiser", "wrongtype", "notalist", "dupa", "dupb"):
        assert plugins[name]["provides"] == []


def test_a_name_two_distributions_register_is_owned_by_neither(site: Path) -> None:
    plugins = listing(site)

    for name, other in (("dupa", "recoil-dupb"), ("dupb", "recoil-dupa")):
        assert plugins[name]["status"] == "conflict"
        assert "grouping:shared is also registered by" in plugins[name]["error"]
        assert other in plugins[name]["error"]
        (conflict,) = plugins[name]["conflicts"]
        assert conflict["name"] == "grouping:shared" and conflict["owner"] is None
        assert [c["distribution"] for c in conflict["claimants"]] == ["recoil-dupa", "recoil-dupb"]


def test_incompatible_plugin_shows_both_versions_and_is_never_imported(site: Path) -> None:
    plugins = listing(site)

    future = plugins["future"]
    assert future["status"] == "incompatible"
    assert future["requires_core"] == ">=9.0,<10"  # lower bound first, as people write it
    assert f"requires recoil-core >=9.0,<10, running {KERNEL_VERSION}" in future["error"]
    assert not (site / "markers" / "future").exists()
    assert (site / "markers" / "broken").exists()  # the marker mechanism does work


def test_plain_table_is_sorted_by_name_with_every_column(site: Path) -> None:
    result = run(site, "plugins", "list", RECOIL_LOAD_PLUGINS=",".join(OURS))

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "DISTRIBUTION",
        "VERSION",
        "PROVIDES",
        "HOOKS",
        "STATUS",
        "ERROR",
    ]
    names = [row.split()[0] for row in rows]
    assert names == sorted(names)
    assert set(OURS) <= set(names)
    good = next(row for row in rows if row.startswith("good "))
    assert good.split() == [
        "good",
        "recoil-good",
        "1.2.3",
        "grouping:good_solo",
        "grouping_strategies",
        "ok",
    ]
    future = next(row for row in rows if row.startswith("future "))
    assert "incompatible" in future and f">=9.0,<10, running {KERNEL_VERSION}" in future
    assert "\x1b[" not in result.stdout  # no terminal styling when piped


def test_json_output_has_exactly_the_documented_fields(site: Path) -> None:
    result = run(site, "plugins", "list", "--json", RECOIL_LOAD_PLUGINS=",".join(OURS))
    entries = json.loads(result.stdout)
    docs = (Path(__file__).parents[1] / "docs" / "plugins-list.md").read_text()

    assert entries and all(list(entry) == JSON_FIELDS for entry in entries)
    assert [e["name"] for e in entries] == sorted(e["name"] for e in entries)
    for field in JSON_FIELDS:
        assert f"`{field}`" in docs


def test_hook_filter_keeps_only_plugins_implementing_that_hook(site: Path) -> None:
    observers = listing(site, "--hook", "recoil_on_take_event")
    strategies = listing(site, "--hook", "grouping_strategies")  # short form

    assert list(observers) == ["watcher"]
    assert set(strategies) == {"dupa", "dupb", "good", "notalist", "raiser", "wrongtype"}


def test_unknown_hook_name_is_a_clear_error(site: Path) -> None:
    result = run(site, "plugins", "list", "--hook", "recoil_grouping_strategy")

    assert result.returncode == 2
    assert "unknown hook 'recoil_grouping_strategy'" in result.stderr
    assert "recoil_grouping_strategies" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_exits_one_only_when_a_plugin_failed(site: Path) -> None:
    with_broken = run(site, "plugins", "list", "--check", RECOIL_LOAD_PLUGINS="good,broken")
    healthy = run(site, "plugins", "list", "--check", RECOIL_LOAD_PLUGINS="good,watcher")
    without_check = run(site, "plugins", "list", RECOIL_LOAD_PLUGINS="good,broken")

    assert with_broken.returncode == 1
    assert "broken (failed)" in with_broken.stderr
    assert healthy.returncode == 0, healthy.stderr
    assert without_check.returncode == 0


def test_check_fails_on_an_incompatible_plugin_as_strict_mode_does(site: Path) -> None:
    check = run(site, "plugins", "list", "--check", RECOIL_LOAD_PLUGINS="good,future")

    assert check.returncode == 1
    assert "future (incompatible)" in check.stderr


@pytest.mark.parametrize("how", ["env", "flag"])
def test_strict_mode_exits_with_the_plugin_name_and_reason(site: Path, how: str) -> None:
    if how == "env":
        result = run(
            site, "plugins", "list", RECOIL_LOAD_PLUGINS="good,broken", RECOIL_STRICT_PLUGINS="1"
        )
    else:
        result = run(site, "--strict-plugins", "plugins", "list", RECOIL_LOAD_PLUGINS="good,broken")

    assert result.returncode == 7
    assert "broken" in result.stderr and "boom at import" in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_mode_refuses_an_incompatible_plugin(site: Path) -> None:
    result = run(
        site, "plugins", "list", RECOIL_LOAD_PLUGINS="good,future", RECOIL_STRICT_PLUGINS="1"
    )

    assert result.returncode == 7
    assert "future (incompatible)" in result.stderr and KERNEL_VERSION in result.stderr


def test_strict_mode_passes_when_every_selected_plugin_is_fine(site: Path) -> None:
    result = run(site, "plugins", "list", RECOIL_LOAD_PLUGINS="good", RECOIL_STRICT_PLUGINS="1")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("how", ["env", "flag"])
def test_disabled_plugin_is_listed_as_disabled_and_not_imported(site: Path, how: str) -> None:
    if how == "env":
        plugins = listing(site, RECOIL_DISABLE_PLUGINS="broken,dupa")
    else:
        result = run(
            site,
            "--load-plugins",
            ",".join(OURS),
            "--disable-plugins",
            "broken,dupa",
            "plugins",
            "list",
            "--json",
        )
        plugins = {e["name"]: e for e in json.loads(result.stdout) if e["name"] in OURS}

    assert plugins["broken"]["status"] == "disabled"
    assert plugins["dupa"]["status"] == "disabled"
    assert plugins["dupb"]["status"] == "ok"  # no longer collides
    assert plugins["dupb"]["provides"] == ["grouping:shared"]
    assert not (site / "markers" / "broken").exists()


def test_load_plugins_selects_only_the_named_plugins(site: Path) -> None:
    plugins = listing(site, RECOIL_LOAD_PLUGINS="good,dupb")

    assert {n for n, p in plugins.items() if p["status"] == "ok"} == {"good", "dupb"}
    assert plugins["broken"]["status"] == "disabled"
    assert plugins["future"]["status"] == "disabled"


@pytest.mark.parametrize("how", ["env", "flag"])
def test_empty_load_plugins_loads_none(site: Path, how: str) -> None:
    if how == "env":
        result = run(site, "plugins", "list", "--json", RECOIL_LOAD_PLUGINS="")
    else:
        result = run(site, "--load-plugins", "", "plugins", "list", "--json")
    statuses = {e["name"]: e["status"] for e in json.loads(result.stdout)}

    assert result.returncode == 0, result.stderr
    assert set(OURS) | set(REAL) <= set(statuses)
    assert set(statuses.values()) == {"disabled"}
    assert not (site / "markers" / "broken").exists()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["plugins", "--help"], ["plugins", "list", "--help"]],
    ids=["help", "version", "plugins-help", "list-help"],
)
def test_help_and_version_never_import_plugins(site: Path, args: list[str]) -> None:
    result = run(site, *args)

    assert result.returncode == 0, result.stderr
    assert not (site / "markers" / "broken").exists()
    if args == ["--version"]:
        assert result.stdout.strip() == f"recoil {KERNEL_VERSION}"


def test_version_imports_no_plugin_machinery() -> None:
    script = (
        "import sys\n"
        "from recoil_core.cli import app\n"
        "try:\n"
        "    app(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "machinery = ('pluggy', 'stevedore', 'recoil_core.hookspecs', 'recoil_core.registry')\n"
        "print(sorted(m for m in machinery if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.stdout.strip() == f"recoil {KERNEL_VERSION}"
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_the_registry_imports_a_contract_only_when_a_plugin_registers_its_kind() -> None:
    script = (
        "import sys\n"
        "from recoil_core.cli import app\n"
        "try:\n"
        "    app(['--load-plugins', 'grouping', 'plugins', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('recoil_core.contracts.')),\n"
        "      file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert "grouping:continuity" in result.stdout, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_plugins_list_imports_no_heavy_modules(site: Path) -> None:
    script = (
        "import sys\n"
        "from recoil_core.cli import app\n"
        "try:\n"
        "    app(['plugins', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('rich', 'httpx', 'av', 'pydantic', 'packaging.requirements')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    env = pythonpath_env(site, base={**base, "RECOIL_LOAD_PLUGINS": "good,watcher"})
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stderr.strip().splitlines()[-1] == "[]"
    assert "good_solo" in result.stdout


def test_every_real_distribution_is_listed_ok_with_its_own_version(site: Path) -> None:
    result = run(site, "plugins", "list", "--json")
    entries = {e["name"]: e for e in json.loads(result.stdout)}

    for name in REAL:
        entry = entries[name]
        assert entry["status"] == "ok", (name, entry["error"])
        assert entry["version"] == dist_version(entry["distribution"])


def test_disabling_a_real_plugin_removes_what_it_provides(site: Path) -> None:
    # Stands in for uninstalling: editable installs keep their entry points visible.
    before = {e["name"]: e for e in json.loads(run(site, "plugins", "list", "--json").stdout)}
    result = run(site, "plugins", "list", "--json", RECOIL_DISABLE_PLUGINS="grouping")
    after = {e["name"]: e for e in json.loads(result.stdout)}

    assert after["grouping"]["status"] == "disabled"
    assert after["grouping"]["provides"] == []
    gone = set(before["grouping"]["provides"])
    assert not gone & {p for e in after.values() for p in e["provides"]}
    assert after["coverage"]["status"] == before["coverage"]["status"]
