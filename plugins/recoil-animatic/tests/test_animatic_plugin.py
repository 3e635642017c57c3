"""recoil-animatic registers the free offline provider through its entry point."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from recoil_core.api import ProviderContext, SubmitRequest, WorkflowStep
from recoil_core.testing.installed import InstalledPlugins


def test_entry_point_registers_animatic_for_keyframes_and_video_of_any_model() -> None:
    installed = InstalledPlugins()
    spec = installed.provider("animatic")

    for modality in ("image_t2i", "video_i2v", "r2v_multi", "video_t2v"):
        assert spec.serves(modality, "seeddance-2.0")
        assert spec.serves(modality, "a-model-nobody-ships")
    assert not spec.serves("audio_tts")
    assert spec.can_find_by_request
    assert not spec.bills_failures
    assert spec.check is not None  # needs no key: it only checks the cache size setting
    assert spec.check(ProviderContext(env={})) == []
    assert spec.limits.poll_interval_s == 0.0
    assert installed.distribution_of("provider:animatic") == "recoil-animatic"


def test_animatic_estimate_is_zero() -> None:
    estimator = InstalledPlugins().estimator("animatic")
    assert estimator is not None
    step = WorkflowStep(
        step_id="video",
        modality="video_i2v",
        payload={"duration_s": 15.0, "resolution": "1080p"},
        provider="animatic",
        model="seeddance-2.0",
    )
    assert estimator.estimate(step) == 0.0


def test_factory_builds_a_provider_that_renders_into_the_configured_cache(
    tmp_path: Path,
) -> None:
    spec = InstalledPlugins().provider("animatic")
    cache = tmp_path / "cache"
    provider = spec.factory(ProviderContext(env={"RECOIL_ANIMATIC_CACHE": str(cache)}))
    request = SubmitRequest(
        take_id="EP001_SH01__t1",
        step_id="video",
        modality="video_t2v",
        model="seeddance-2.0",
        payload={"prompt": "A quiet street", "duration_s": 1.0, "shot_ids": ["EP001_SH01"]},
        seed=3,
    )

    async def go() -> str:
        job_id = await provider.submit(request)
        status = await provider.poll(job_id)
        await provider.download(status, tmp_path / "out.mp4")
        await provider.aclose()
        return job_id

    job_id = asyncio.run(go())
    assert (cache / f"{job_id}.mp4").is_file()
    assert (tmp_path / "out.mp4").read_bytes() == (cache / f"{job_id}.mp4").read_bytes()


def test_plugin_module_import_loads_neither_pyav_nor_pillow() -> None:
    code = (
        "import sys, recoil_animatic.plugin\n"
        "spec = recoil_animatic.plugin.recoil_providers()[0]\n"
        "assert 'av' not in sys.modules, 'av imported'\n"
        "assert 'PIL' not in sys.modules, 'PIL imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
