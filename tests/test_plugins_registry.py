"""In-process plugin loading and the registry: every registration hook, validation, strictness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recoil_core import hookimpl
from recoil_core.errors import NameConflictError, PluginError, UnknownNameError
from recoil_core.interfaces import BackendSpec, CostEstimator, PreflightGate, ProviderSpec
from recoil_core.plugins import core_requirement, is_compatible, load_plugins
from recoil_core.registry import build_registry
from recoil_core.settings import PluginSelection
from recoil_core.testing.distributions import on_sys_path, write_distribution


class Strategy:
    description = "test strategy"

    def __init__(self, name: str) -> None:
        self.name = name

    def assemble(self, shots: Any, ctx: Any) -> list[Any]:
        return []


class Runner:
    description = "test runner"

    def __init__(self, modality: str) -> None:
        self.modality = modality

    def build_workflow(self, beat: Any, ctx: Any) -> Any:
        raise NotImplementedError


def _never(ctx: Any) -> Any:
    raise AssertionError("factories are not called while registering")


def provider(name: str) -> ProviderSpec:
    return ProviderSpec(name=name, modalities={"video_i2v"}, factory=_never)


class Plugin:
    """An in-process plugin registering one object through one hook."""

    def __init__(self, hook: str, make: Any) -> None:
        setattr(self, hook, hookimpl(specname=hook)(lambda: make()))


# hook, factory of an object named "x", what it provides, the registry map holding it
KINDS = [
    ("recoil_grouping_strategies", lambda: [Strategy("x")], "grouping:x", "strategies"),
    ("recoil_modality_runners", lambda: [Runner("x")], "runner:x", "runners"),
    ("recoil_providers", lambda: [provider("x")], "provider:x", "providers"),
    (
        "recoil_cost_estimators",
        lambda: [CostEstimator(provider="x", estimate=lambda step: 0.5)],
        "estimator:x",
        "estimators",
    ),
    (
        "recoil_persistence_backends",
        lambda: [BackendSpec(name="x", factory=_never)],
        "backend:x",
        "backends",
    ),
    (
        "recoil_preflight_gates",
        lambda: [PreflightGate(name="x", check=lambda ctx: [])],
        "gate:x",
        "gates",
    ),
]


def registry_of(*plugins: tuple[str, object], **selection: Any) -> Any:
    return build_registry(
        PluginSelection(**selection), extra=list(plugins), include_entry_points=False
    )


@pytest.mark.parametrize(("hook", "make", "provides", "attr"), KINDS, ids=[k[0] for k in KINDS])
def test_each_registration_hook_fills_its_name_map(
    hook: str, make: Any, provides: str, attr: str
) -> None:
    registry = registry_of(("one", Plugin(hook, make)))

    record = registry.host.records["one"]
    assert (record.status, record.provides, record.hooks) == ("ok", [provides], [hook])
    registered = getattr(registry, attr)
    assert len(registered) == 1
    assert (registered[0] if attr == "gates" else registered["x"]) is not None


@pytest.mark.parametrize(("hook", "make", "provides", "attr"), KINDS, ids=[k[0] for k in KINDS])
def test_a_name_registered_twice_belongs_to_neither_plugin(
    hook: str, make: Any, provides: str, attr: str
) -> None:
    registry = registry_of(("first", Plugin(hook, make)), ("second", Plugin(hook, make)))

    first, second = registry.host.records["first"], registry.host.records["second"]
    assert (first.status, second.status) == ("conflict", "conflict")
    assert f"{provides} is also registered by (in-process) (plugin 'first')" in (second.error or "")
    assert first.provides == second.provides == []
    if attr == "gates":  # never looked up by name: every claimant runs
        assert len(registry.gates) == 2
        return
    assert list(getattr(registry, attr)) == []
    with pytest.raises(NameConflictError, match=r"plugin 'first'.*plugin 'second'"):
        getattr(registry, attr)["x"]


@pytest.mark.parametrize(("hook", "make", "provides", "attr"), KINDS, ids=[k[0] for k in KINDS])
def test_a_preference_gives_a_contested_name_to_one_plugin(
    hook: str, make: Any, provides: str, attr: str
) -> None:
    registry = registry_of(
        ("first", Plugin(hook, make)), ("second", Plugin(hook, make)), prefer=(("x", "second"),)
    )

    first, second = registry.host.records["first"], registry.host.records["second"]
    assert (first.status, second.status) == ("ok", "ok")
    assert (first.provides, second.provides) == ([], [provides])
    assert first.conflicts[0]["owner"]["plugin"] == "second"
    assert len(getattr(registry, attr)) == 1


def test_a_contested_estimator_stops_pricing_instead_of_pricing_at_zero() -> None:
    def estimator() -> list[CostEstimator]:
        return [CostEstimator(provider="fake", estimate=lambda step: 0.5)]

    registry = registry_of(
        ("one", Plugin("recoil_cost_estimators", estimator)),
        ("two", Plugin("recoil_cost_estimators", estimator)),
    )

    with pytest.raises(NameConflictError, match="cost estimator 'fake'"):
        registry.estimator("fake")
    assert registry.estimator("other") is None


def test_lookups_return_registered_objects_and_refuse_unknown_names() -> None:
    strategy = Strategy("solo")
    registry = registry_of(
        ("s", Plugin("recoil_grouping_strategies", lambda: [strategy])),
        ("p", Plugin("recoil_providers", lambda: [provider("fake")])),
    )

    assert registry.strategy("solo") is strategy
    assert registry.provider("fake").name == "fake"
    assert registry.estimator("fake") is None
    with pytest.raises(UnknownNameError, match="unknown grouping strategy 'nope'; available: solo"):
        registry.strategy("nope")
    with pytest.raises(UnknownNameError, match="none installed"):
        registry.runner("video_i2v")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: (_ for _ in ()).throw(KeyError("boom")), "raised KeyError"),
        (lambda: [Strategy("ok"), 42], "returned int, not a grouping strategy"),
        (lambda: Strategy("lone"), "returned Strategy, not a list"),
    ],
    ids=["raises", "wrong-item-type", "not-a-list"],
)
def test_a_bad_registration_hook_fails_only_its_plugin(make: Any, reason: str) -> None:
    registry = registry_of(
        ("bad", Plugin("recoil_grouping_strategies", make)),
        ("good", Plugin("recoil_grouping_strategies", lambda: [Strategy("good")])),
    )

    bad = registry.host.records["bad"]
    assert bad.status == "failed" and reason in (bad.error or "")
    assert bad.provides == []
    assert list(registry.strategies) == ["good"]
    assert registry.host.pm.get_plugin("bad") is None


def test_a_misspelled_hook_fails_the_plugin() -> None:
    class Misspelled:
        @hookimpl
        def recoil_provider(self) -> list[Any]:
            return []

    host = load_plugins(extra=[("typo", Misspelled())], include_entry_points=False)

    record = host.records["typo"]
    assert record.status == "failed"
    assert "recoil_provider" in (record.error or "")
    assert host.pm.get_plugin("typo") is None


def test_a_hook_with_an_unknown_argument_fails_validation() -> None:
    class WrongArgument:
        @hookimpl
        def recoil_on_take_event(self, evt: Any) -> None:
            pass

    record = load_plugins(extra=[("w", WrongArgument())], include_entry_points=False).records["w"]

    assert record.status == "failed"
    assert "PluginValidationError" in (record.error or "")


def test_strict_selection_raises_naming_the_failed_plugin() -> None:
    bad = Plugin("recoil_grouping_strategies", lambda: [1])

    with pytest.raises(PluginError, match=r"bad \(failed\): recoil_grouping_strategies returned"):
        registry_of(("bad", bad), strict=True)
    assert registry_of(("bad", bad)).host.records["bad"].status == "failed"


def test_disabled_in_process_plugin_is_not_registered() -> None:
    plugin = Plugin("recoil_grouping_strategies", lambda: [Strategy("s")])

    registry = build_registry(
        PluginSelection(load_only=("p",), disabled=("p",)), extra=[("p", plugin)]
    )

    assert registry.host.records["p"].status == "disabled"
    assert "s" not in registry.strategies


def test_throwaway_distribution_loads_in_process(tmp_path: Path) -> None:
    source = (
        "from recoil_core import hookimpl\n"
        "class S:\n    name = 'inproc'\n    description = ''\n"
        "    def assemble(self, shots, ctx):\n        return []\n"
        "@hookimpl\ndef recoil_grouping_strategies():\n    return [S()]\n"
    )
    write_distribution(
        tmp_path,
        "recoil-inproc",
        entry_points={"inproc": "recoil_inproc_mod"},
        modules={"recoil_inproc_mod": source},
    )

    with on_sys_path(tmp_path):
        registry = build_registry(PluginSelection(load_only=("inproc",)))
        record = registry.host.records["inproc"]
    assert (record.status, record.distribution, record.module) == (
        "ok",
        "recoil-inproc",
        "recoil_inproc_mod",
    )
    assert list(registry.strategies) == ["inproc"]


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (["recoil-core>=0.1,<0.2"], ">=0.1,<0.2"),
        (["recoil-core<0.3,>=0.2"], ">=0.2,<0.3"),
        (["recoil-core<2,!=1.5,>=1"], ">=1,!=1.5,<2"),
        (["Recoil_Core (<0.2, >=0.1)"], ">=0.1,<0.2"),
        (["recoil-core[extra]>=1"], ">=1"),
        (["recoil-core>=1; extra == 'test'"], None),
        (["recoil-coreish>=1", "attrs"], None),
        (None, None),
    ],
)
def test_core_requirement_reads_the_kernel_range(
    requires: list[str] | None, expected: str | None
) -> None:
    assert core_requirement(requires) == expected


@pytest.mark.parametrize(
    ("spec", "kernel", "expected"),
    [
        (">=0.1,<0.2", "0.1.0", True),
        (">=0.1,<0.2", "0.2.0", False),
        (">=9.0,<10", "0.1.0", False),
        ("~=0.1", "0.1.7", True),
        ("==0.1.*", "0.2.0", False),
        (None, "0.1.0", True),
    ],
)
def test_is_compatible(spec: str | None, kernel: str, expected: bool) -> None:
    assert is_compatible(spec, kernel) is expected


def test_the_listing_reads_name_version_and_requirements_as_the_metadata_parser_does(
    tmp_path: Path,
) -> None:
    from importlib.metadata import PathDistribution

    from recoil_core.plugins import _first, _headers

    info = tmp_path / "folded-0.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.4\n"
        "Name: Folded.Plugin\n"
        "Version:   0.2.0\n"
        "License: Copyright 2025.\n"
        "        All rights reserved.\n"
        "        \n"
        "        Version: 9.9.9\n"
        "Requires-Dist: recoil-core <0.2, >=0.1\n"
        "Requires-Dist: httpx ; extra == 'http'\n"
        "\n"
        "Name: not-a-header\n"
        "Requires-Dist: in the description\n",
        encoding="utf-8",
    )
    dist = PathDistribution(info)
    fields = _headers(dist)

    assert [_first(fields, "name"), _first(fields, "version")] == ["Folded.Plugin", "0.2.0"]
    assert fields["requires-dist"] == ["recoil-core <0.2, >=0.1", "httpx ; extra == 'http'"]
    metadata = dist.metadata
    assert [metadata["Name"], metadata["Version"]] == [_first(fields, "name"), "0.2.0"]
    assert metadata.get_all("Requires-Dist") == fields["requires-dist"]
    assert core_requirement(fields["requires-dist"]) == ">=0.1,<0.2"
