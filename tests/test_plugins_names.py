"""Name ownership: a name two distributions register belongs to neither until the studio
picks its owner; the plugins' other names keep working; no alphabetical winner, ever.

Real throwaway distributions with real entry points, next to the repo's installed ones:
``aaa`` (sorts before the built-in ``grouping``) claims ``continuity``, ``zzz`` (sorts
after it) claims ``solo``. Each newcomer strategy writes a marker when it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import NameConflictError, PluginError
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection, Settings
from recoil_core.testing.distributions import on_sys_path, pythonpath_env, write_distribution
from recoil_core.testing.pytest_plugin import recoil_executable

PLAN = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
RECOIL = recoil_executable()

NEWCOMER = """
from pathlib import Path

from recoil_core import hookimpl


class Marking:
    description = "a newcomer's strategy"

    def __init__(self, name):
        self.name = name

    def assemble(self, shots, ctx):
        Path({markers!r}, self.name).write_text("ran")
        from recoil_plugins_grouping.solo import SoloStrategy

        return SoloStrategy().assemble(shots, ctx)


@hookimpl
def recoil_grouping_strategies():
    return [Marking({contested!r}), Marking({own!r})]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("names")
    markers = root / "markers"
    markers.mkdir()
    for plugin, contested in (("aaa", "continuity"), ("zzz", "solo")):
        module = f"recoil_test_{plugin}_clash"
        source = NEWCOMER.format(markers=str(markers), contested=contested, own=f"{plugin}_own")
        write_distribution(
            root,
            f"recoil-{plugin}-clash",
            entry_points={plugin: module},
            modules={module: source},
        )
    return root


@pytest.fixture(autouse=True)
def _clear_markers(site: Path) -> None:
    for marker in (site / "markers").iterdir():
        marker.unlink()


def ran(site: Path) -> set[str]:
    return {marker.name for marker in (site / "markers").iterdir()}


def run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOIL_")}
    return subprocess.run(
        [RECOIL, *args],
        env=pythonpath_env(site, base={**base, **env}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def listing(site: Path, cwd: Path, *args: str, **env: str) -> dict[str, dict[str, Any]]:
    result = run(site, cwd, *args, "plugins", "list", "--json", **env)
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


def test_a_clash_is_a_conflict_of_that_name_only_shown_with_both_distributions(
    site: Path, tmp_path: Path
) -> None:
    plugins = listing(site, tmp_path)

    grouping, aaa, zzz = plugins["grouping"], plugins["aaa"], plugins["zzz"]
    assert (grouping["status"], aaa["status"], zzz["status"]) == ("conflict",) * 3
    assert grouping["provides"] == ["grouping:oner"]  # its other name keeps working
    assert aaa["provides"] == ["grouping:aaa_own"] and zzz["provides"] == ["grouping:zzz_own"]
    assert plugins["coverage"]["status"] == "ok"
    continuity = next(c for c in aaa["conflicts"] if c["name"] == "grouping:continuity")
    assert {c["distribution"] for c in continuity["claimants"]} == {
        "recoil-aaa-clash",
        "recoil-plugins-grouping",
    }
    assert continuity["owner"] is None and continuity["preferred"] is None
    assert [c["name"] for c in grouping["conflicts"]] == ["grouping:continuity", "grouping:solo"]
    assert "recoil-aaa-clash" in grouping["error"] and "recoil-zzz-clash" in grouping["error"]
    assert "--prefer continuity=" in grouping["error"]


def test_the_table_shows_the_conflict_status_and_the_other_distribution(
    site: Path, tmp_path: Path
) -> None:
    result = run(site, tmp_path, "plugins", "list")

    assert result.returncode == 0, result.stderr
    aaa = next(line for line in result.stdout.splitlines() if line.startswith("aaa "))
    assert "conflict" in aaa.split()
    assert "grouping:continuity is also registered by recoil-plugins-grouping" in aaa


@pytest.mark.parametrize(
    ("strategy", "newcomer"),
    [("continuity", "recoil-aaa-clash"), ("solo", "recoil-zzz-clash")],
    ids=["newcomer-sorts-first", "newcomer-sorts-last"],
)
@pytest.mark.parametrize("command", ["group", "dry-run"])
def test_asking_for_a_contested_name_exits_2_naming_both_and_how_to_choose(
    site: Path, tmp_path: Path, strategy: str, newcomer: str, command: str
) -> None:
    args = ["group", str(PLAN)] if command == "group" else ["run", str(PLAN), "--dry-run"]

    result = run(site, tmp_path, *args, "--strategy", strategy)

    assert result.returncode == 2, result.stderr
    assert "recoil-plugins-grouping" in result.stderr and newcomer in result.stderr
    assert f"--prefer {strategy}=recoil-plugins-grouping" in result.stderr
    assert f"--prefer {strategy}={newcomer}" in result.stderr
    assert "Traceback" not in result.stderr
    assert ran(site) == set()  # neither claimant's code ran
    assert not (tmp_path / "recoil-projects").exists()


def test_the_other_names_of_both_plugins_keep_working(site: Path, tmp_path: Path) -> None:
    # Without seeddance, the animatic previs checks no length: the example's 21 s oner unit
    # is previewed rather than refused as longer than seeddance-2.0 renders.
    builtin = run(
        site, tmp_path, "--disable-plugins", "seeddance", "group", str(PLAN), "--strategy", "oner"
    )
    newcomer = run(site, tmp_path, "group", str(PLAN), "--strategy", "aaa_own")

    assert builtin.returncode == 0, builtin.stderr
    assert newcomer.returncode == 0, newcomer.stderr
    assert ran(site) == {"aaa_own"}


def test_prefer_option_gives_the_name_to_the_builtin(site: Path, tmp_path: Path) -> None:
    result = run(
        site,
        tmp_path,
        "--prefer",
        "continuity=recoil-plugins-grouping",
        "--prefer",
        "grouping:solo=recoil_plugins_grouping",  # kind:name, unnormalized distribution
        "group",
        str(PLAN),
        "--strategy",
        "continuity",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert {unit["strategy"] for unit in json.loads(result.stdout)["units"]} >= {"continuity"}
    assert ran(site) == set()
    plugins = listing(site, tmp_path, "--prefer", "continuity=recoil-plugins-grouping")
    assert plugins["aaa"]["status"] == "ok"  # its claim is settled
    assert plugins["zzz"]["status"] == "conflict"  # solo is still contested
    assert "grouping:continuity" in plugins["grouping"]["provides"]
    settled = plugins["aaa"]["conflicts"][0]
    assert settled["owner"]["distribution"] == "recoil-plugins-grouping"
    assert settled["preferred"] == "recoil-plugins-grouping"


def test_recoil_prefer_setting_can_give_the_name_to_the_newcomer(
    site: Path, tmp_path: Path
) -> None:
    prefer = "solo=recoil-zzz-clash, continuity=recoil-plugins-grouping"
    solo = run(
        site, tmp_path, "run", str(PLAN), "--dry-run", "--strategy", "solo", RECOIL_PREFER=prefer
    )
    continuity = run(site, tmp_path, "group", str(PLAN), "-s", "continuity", RECOIL_PREFER=prefer)

    assert solo.returncode == 0, solo.stderr
    assert continuity.returncode == 0, continuity.stderr
    assert ran(site) == {"solo"}  # the newcomer's solo, the built-in continuity


def test_a_preference_naming_no_claimant_leaves_the_name_unusable(
    site: Path, tmp_path: Path
) -> None:
    result = run(
        site, tmp_path, "group", str(PLAN), "--strategy", "continuity", RECOIL_PREFER="continuity=x"
    )

    assert result.returncode == 2
    assert "continuity=x names none of them" in result.stderr
    assert ran(site) == set()


@pytest.mark.parametrize("value", ["continuity", "=recoil-plugins-grouping", "continuity="])
def test_a_malformed_preference_is_a_clear_error(site: Path, tmp_path: Path, value: str) -> None:
    from_env = run(site, tmp_path, "plugins", "list", RECOIL_PREFER=value)
    from_flag = run(site, tmp_path, "--prefer", value, "plugins", "list")

    assert from_env.returncode == 2 and "RECOIL_PREFER" in from_env.stderr
    assert from_flag.returncode == 2 and "--prefer" in from_flag.stderr
    assert "NAME=DISTRIBUTION" in from_flag.stderr
    assert "Traceback" not in from_env.stderr + from_flag.stderr


def test_check_and_strict_mode_refuse_an_unsettled_conflict(site: Path, tmp_path: Path) -> None:
    check = run(site, tmp_path, "plugins", "list", "--check")
    strict = run(site, tmp_path, "--strict-plugins", "plugins", "list")
    settled = run(
        site,
        tmp_path,
        "--strict-plugins",
        "--prefer",
        "continuity=recoil-plugins-grouping",
        "--prefer",
        "solo=recoil-zzz-clash",
        "plugins",
        "list",
    )

    assert check.returncode == 1 and "aaa (conflict)" in check.stderr
    assert strict.returncode == 7
    assert "aaa (conflict)" in strict.stderr and "--prefer" in strict.stderr
    assert settled.returncode == 0, settled.stderr


def test_the_registry_refuses_a_contested_name_in_process(site: Path) -> None:
    with on_sys_path(site):
        registry = build_registry(PluginSelection(load_only=("aaa", "grouping")))
        preferred = build_registry(
            PluginSelection(load_only=("aaa", "grouping"), prefer=(("continuity", "aaa"),))
        )

    with pytest.raises(NameConflictError, match="recoil-aaa-clash") as excinfo:
        registry.strategy("continuity")
    assert excinfo.value.exit_code == 2
    with pytest.raises(NameConflictError):
        _ = "continuity" in registry.strategies  # neither present nor absent
    assert sorted(registry.strategies) == ["aaa_own", "oner", "solo"]
    assert registry.origin(registry_kind("grouping"), "continuity") is None
    owner = preferred.origin(registry_kind("grouping"), "continuity")
    assert owner is not None and owner.distribution == "recoil-aaa-clash"  # by plugin name


def registry_kind(prefix: str) -> Any:
    from recoil_core.registry import KINDS

    return next(kind for kind in KINDS if kind.prefix == prefix)


def test_a_second_distribution_reusing_an_entry_point_name_replaces_nothing(
    tmp_path: Path,
) -> None:
    write_distribution(
        tmp_path,
        "recoil-impostor",
        entry_points={"grouping": "recoil_test_impostor"},
        modules={
            "recoil_test_impostor": NEWCOMER.format(
                markers=str(tmp_path), contested="continuity", own="impostor_own"
            )
        },
    )

    with on_sys_path(tmp_path):
        registry = build_registry(PluginSelection(load_only=("grouping",)))

    records = {key: r for key, r in registry.host.records.items() if r.name == "grouping"}
    assert sorted(records) == ["grouping (recoil-impostor)", "grouping (recoil-plugins-grouping)"]
    assert {r.status for r in records.values()} == {"conflict"}
    assert sorted(registry.strategies) == ["impostor_own", "oner", "solo"]
    with pytest.raises(NameConflictError, match="recoil-impostor"):
        registry.strategy("continuity")


def test_prefer_settings_are_read_once_into_the_selection() -> None:
    settings = Settings.from_env({"RECOIL_PREFER": "continuity=a, grouping:solo=b"})

    assert settings.plugins.prefer == (("continuity", "a"), ("grouping:solo", "b"))
    assert settings.plugins.preferred("grouping", "continuity") == "a"
    assert settings.plugins.preferred("grouping", "solo") == "b"
    assert settings.plugins.preferred("runner", "solo") is None
    with pytest.raises(ValueError, match="RECOIL_PREFER"):
        Settings.from_env({"RECOIL_PREFER": "continuity"})


def test_strict_registry_raises_on_a_conflict(site: Path) -> None:
    with on_sys_path(site), pytest.raises(PluginError, match=r"aaa \(conflict\)"):
        build_registry(PluginSelection(load_only=("aaa", "grouping"), strict=True))
