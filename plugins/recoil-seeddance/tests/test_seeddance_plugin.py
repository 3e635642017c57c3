"""The seeddance plugin as Recoil loads it: spec, limits, checks, cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from recoil_seeddance import plugin

from recoil_core.api import ProviderContext
from recoil_core.testing.installed import InstalledPlugins


def test_registry_offers_the_seeddance_provider_and_estimator() -> None:
    registry = InstalledPlugins()
    spec = registry.provider("seeddance")
    assert spec.modalities == {"video_i2v", "r2v_multi", "video_t2v"}
    assert spec.serves("r2v_multi", "seeddance-2.0")
    assert spec.serves("video_i2v", "dreamina-seedance-2-0-260128")
    assert not spec.serves("image_t2i", "seeddance-2.0")
    assert spec.can_find_by_request and not spec.bills_failures
    assert (spec.limits.concurrency, spec.limits.requests_per_minute) == (10, 600)
    assert not spec.limits.download_in_slot  # Ark counts running tasks, not downloads
    assert registry.estimator("seeddance") is not None


def test_missing_key_is_a_problem_that_names_the_variable() -> None:
    spec = plugin.recoil_providers()[0]
    assert spec.check is not None
    [problem] = spec.check(ProviderContext(env={}))
    assert problem.startswith("ARK_API_KEY is not set: ")
    assert spec.check(ProviderContext(env={"ARK_API_KEY": "k"})) == []


def test_bad_transport_and_poll_settings_are_problems() -> None:
    env = {"ARK_API_KEY": "k", "RECOIL_HTTP_TRANSPORT": "curl", "RECOIL_SEEDDANCE_POLL_S": "x"}
    problems = plugin.check(ProviderContext(env=env))
    assert any("RECOIL_HTTP_TRANSPORT" in p for p in problems)
    assert any("RECOIL_SEEDDANCE_POLL_S" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "raw", "used"),
    [
        ("RECOIL_SEEDDANCE_POLL_S", "-1", 0.0),
        ("RECOIL_SEEDDANCE_POLL_S", "nan", 10.0),
        ("RECOIL_SEEDDANCE_POLL_S", "soon", 10.0),
        ("RECOIL_SEEDDANCE_CONCURRENCY", "0", 1),
        ("RECOIL_SEEDDANCE_CONCURRENCY", "2.5", 10),
        ("RECOIL_SEEDDANCE_POLL_BATCH", "501", 500),
        ("RECOIL_SEEDDANCE_POLL_BATCH", "-3", 0),
    ],
)
def test_a_setting_preflight_refuses_is_one_the_provider_would_have_replaced(
    name: str, raw: str, used: float
) -> None:
    """One reading of each setting: preflight names every value the provider would not
    use as written (it falls back to the default, or to the nearest bound)."""
    env = {"ARK_API_KEY": "k", name: raw}
    (problem,) = plugin.check(ProviderContext(env=env))
    assert problem.startswith(f"{name}={raw!r}: use ")
    setting = next(s for s in plugin.SETTINGS if s.name == name)
    assert setting.value(env) == used
    fine = {"ARK_API_KEY": "k", name: "5"}
    assert plugin.check(ProviderContext(env=fine)) == [] and setting.value(fine) == 5


def test_poll_interval_defaults_to_10s_and_env_overrides_it() -> None:
    assert plugin.limits({}).poll_interval_s == 10.0
    assert plugin.limits({"RECOIL_SEEDDANCE_POLL_S": "0.01"}).poll_interval_s == 0.01


def test_loading_the_plugin_imports_no_http_client() -> None:
    code = (
        "import sys, recoil_seeddance.plugin as p; p.recoil_providers(); "
        "p.recoil_cost_estimators(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'aiohttp')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- tier gate


def _ctx(generation_config: dict, *, provider: str = "seeddance", model: str = "seeddance-2.0"):
    from recoil_core.api import Beat, GroupIdentity, PreflightContext, Scene
    from recoil_core.testing.plans import canonical_plan, canonical_shot

    plan = canonical_plan([canonical_shot("EP001_SH01", video_model=model)], project="p")
    beat = Beat(
        beat_id="EP001_PASS_001_SH01__cov",
        modality="r2v_multi",
        grouping=GroupIdentity("coverage", 1, ("EP001_SH01",), source_pass_id="PASS_A"),
        generation_config=generation_config,
    )
    scene = Scene(scene_id="EP001_PASS_001", beats=[beat], project="p", episode="EP001")
    return PreflightContext(
        project="p",
        episode="EP001",
        plan=plan,
        scenes=(scene,),
        video_provider=provider,
        budget_cap_usd=None,
    )


def test_tier_gate_refuses_tiers_ark_does_not_know_naming_the_pass() -> None:
    [problem] = plugin.check_tiers(_ctx({"tier": "pro"}))
    assert "coverage pass PASS_A generation_config.tier is 'pro'" in problem
    assert "default and flex" in problem
    assert plugin.check_tiers(_ctx({"tier": "pro"}, provider="animatic")) == []
    assert plugin.check_tiers(_ctx({"tier": "default"})) == []
    assert plugin.check_tiers(_ctx({})) == []


def test_tier_gate_refuses_flex_for_2x_models_only() -> None:
    [problem] = plugin.check_tiers(_ctx({"tier": "flex"}))
    assert "has no flex tier" in problem
    assert plugin.check_tiers(_ctx({"tier": "flex"}, model="seeddance-1.5-pro")) == []


def test_tier_gate_is_registered() -> None:
    registry = InstalledPlugins()
    assert "seeddance-tiers" in {gate.name for gate in registry.gates}
