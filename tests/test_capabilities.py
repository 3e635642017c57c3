"""Units the provider can really render: a unit longer than its model's longest clip, or
mixing models, is refused by ``group``, ``run --dry-run`` and preflight before anything is
reserved; a shorter one is rounded up and said; ``recoil providers show`` prints what a
provider declares. Real ``recoil`` subprocesses, installed providers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil_core.interfaces import Durations
from recoil_core.testing.plans import write_plan

ONER_SHOTS = [f"EP001_SH{n:02d}" for n in range(1, 7)]


def _shot(shot_id: str, duration_s: float, **fields: Any) -> dict[str, Any]:
    return {"shot_id": shot_id, "duration_s": duration_s, "prompt": f"shot {shot_id}", **fields}


def _plan(tmp_path: Path, shots: list[dict[str, Any]]) -> Path:
    return write_plan(
        tmp_path,
        sequences={"SEQ01": {"location": "LOC_A", "shots": shots}},
        defaults={"video_model": "seeddance-2.0", "aspect_ratio": "16:9", "resolution": "720p"},
    )


@pytest.fixture
def oner_plan(tmp_path: Path) -> Path:
    """Six 6 s shots: one 36 s ``oner`` unit, on Seedance 2.0 (at most 15 s)."""
    return _plan(tmp_path, [_shot(shot_id, 6) for shot_id in ONER_SHOTS])


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _says_36s_unit_is_refused(text: str, *, provider: str) -> None:
    assert "ONER_001__oner" in text
    assert ", ".join(ONER_SHOTS) in text
    assert "36 s long" in text
    assert "seeddance-2.0" in text
    assert "at most 15 s" in text
    assert provider in text


def test_durations_round_up_within_range_and_refuse_past_the_longest() -> None:
    seedance = Durations.range(4, 15)
    kling = Durations.of(10, 5)

    assert [seedance.deliverable(s) for s in (1, 4, 4.2, 15)] == [4, 4, 5, 15]
    assert seedance.deliverable(15.5) is None
    assert [kling.deliverable(s) for s in (3, 5, 5.5, 10)] == [5, 5, 10, 10]
    assert kling.deliverable(36) is None
    assert Durations.range(0, 600, 0).deliverable(7.3) == 7.3


def test_group_refuses_a_36s_oner_unit_on_seedance(recoil_cli, oner_plan: Path, recoil_env) -> None:
    result = recoil_cli("group", str(oner_plan), "-s", "oner", "--provider", "seeddance")

    assert result.returncode == 8, result.stdout + result.stderr
    _says_36s_unit_is_refused(result.stderr, provider="seeddance")
    assert "Traceback" not in result.stderr
    assert _files(Path(recoil_env["RECOIL_PROJECTS_ROOT"])) == []


def test_group_json_refusal_is_a_json_error(recoil_cli, oner_plan: Path) -> None:
    result = recoil_cli("group", str(oner_plan), "-s", "oner", "--provider", "seeddance", "--json")

    assert result.returncode == 8
    assert "ONER_001__oner" in result.stdout + result.stderr


def test_dry_run_refuses_a_36s_oner_unit_on_seedance_writing_nothing(
    recoil_cli, oner_plan: Path, recoil_env
) -> None:
    result = recoil_cli(
        "run", str(oner_plan), "--strategy", "oner", "--provider", "seeddance", "--dry-run",
        env={"ARK_API_KEY": "test-key-not-a-secret"},
    )  # fmt: skip

    assert result.returncode == 8, result.stdout + result.stderr
    assert "preflight refused the run; nothing was reserved or submitted" in result.stderr
    _says_36s_unit_is_refused(result.stderr, provider="seeddance")
    assert _files(Path(recoil_env["RECOIL_PROJECTS_ROOT"])) == []


def test_preflight_refuses_a_36s_oner_unit_before_any_reservation(
    recoil_cli, oner_plan: Path, recoil_env
) -> None:
    """A real run (not a dry run) with a key set: preflight stops it; no scene, take or
    ledger document is written, so nothing is reserved and nothing is submitted."""
    result = recoil_cli(
        "run", str(oner_plan), "--strategy", "oner", "--provider", "seeddance", "--budget", "50",
        env={"ARK_API_KEY": "test-key-not-a-secret", "ARK_BASE_URL": "http://127.0.0.1:9"},
    )  # fmt: skip

    assert result.returncode == 8, result.stdout + result.stderr
    _says_36s_unit_is_refused(result.stderr, provider="seeddance")
    written = [p.name for p in _files(Path(recoil_env["RECOIL_PROJECTS_ROOT"]))]
    assert not [name for name in written if name.endswith((".json", ".jsonl"))], written


def test_previs_refuses_what_the_paid_provider_would(
    recoil_cli, oner_plan: Path, recoil_env
) -> None:
    """The animatic (the default provider) stands in for Seedance for seeddance-2.0: the
    36 s unit it would once have rendered in full is refused too."""
    grouped = recoil_cli("group", str(oner_plan), "-s", "oner")
    dry = recoil_cli("run", str(oner_plan), "--strategy", "oner", "--dry-run")

    for result in (grouped, dry):
        assert result.returncode == 8, result.stdout + result.stderr
        _says_36s_unit_is_refused(result.stderr, provider="animatic (previs of seeddance)")
    assert _files(Path(recoil_env["RECOIL_PROJECTS_ROOT"])) == []


def test_a_unit_mixing_models_is_refused_naming_shots_and_models(
    recoil_cli, tmp_path: Path
) -> None:
    plan = _plan(
        tmp_path,
        [
            _shot("EP001_SH01", 3),
            _shot("EP001_SH02", 3, video_model="seeddance-1.5-pro"),
            _shot("EP001_SH03", 3),
        ],
    )

    result = recoil_cli("group", str(plan), "-s", "oner", "--provider", "seeddance")
    dry = recoil_cli("run", str(plan), "--strategy", "oner", "--provider", "seeddance", "--dry-run")

    for text in (result.stderr, dry.stderr):
        assert "ONER_001__oner" in text
        assert "mixes models" in text
        assert "seeddance-1.5-pro for EP001_SH02" in text
        assert "seeddance-2.0 for EP001_SH01, EP001_SH03" in text
    assert result.returncode == 8 and dry.returncode == 8


def test_a_short_unit_is_rounded_up_and_the_dry_run_says_so(recoil_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path, [_shot("EP001_SH01", 2.5)])

    grouped = recoil_cli("group", str(plan), "-s", "solo", "--provider", "seeddance", "--json")
    dry = recoil_cli(
        "run", str(plan), "--strategy", "solo", "--provider", "seeddance", "--dry-run", "--json",
        env={"ARK_API_KEY": "test-key-not-a-secret"},
    )  # fmt: skip

    assert grouped.returncode == 0, grouped.stderr
    notices = json.loads(grouped.stdout)["notices"]
    assert notices == [
        "unit EP001_SH01 (shots EP001_SH01): 2.5 s of shots rounded up to 4 s, the shortest "
        "clip seeddance-2.0 renders that covers them"
    ]
    assert dry.returncode == 0, dry.stderr
    assert notices[0] in json.loads(dry.stdout)["notices"]
    text = recoil_cli(
        "run", str(plan), "--strategy", "solo", "--provider", "seeddance", "--dry-run",
        env={"ARK_API_KEY": "test-key-not-a-secret"},
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert f"note: {notices[0]}" in text.stdout


def test_previs_renders_the_clip_the_paid_provider_would_deliver(
    recoil_cli, tmp_path: Path, recoil_env
) -> None:
    """A 2.5 s shot on seeddance-2.0 comes back from Seedance as a 4 s clip: the animatic
    previs of it is 4 s long too (48 frames at 12 fps), its last 1.5 s a tail card."""
    av = pytest.importorskip("av")
    plan = _plan(tmp_path, [_shot("EP001_SH01", 2.5)])

    result = recoil_cli("run", str(plan), "--strategy", "solo", "--provider", "animatic")

    assert result.returncode == 0, result.stdout + result.stderr
    clips = [p for p in _files(Path(recoil_env["RECOIL_PROJECTS_ROOT"])) if p.suffix == ".mp4"]
    assert len(clips) == 1, clips
    with av.open(str(clips[0])) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 48


def test_providers_show_prints_seedance_capabilities(recoil_cli) -> None:
    result = recoil_cli("providers", "show", "seeddance")

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "cancellable states: queued" in text
    assert "running cancel:     not billed" in text
    assert "finds lost creates: yes, 7 days back" in text
    assert "keeps outputs:      1 day\n" in text  # Ark keeps a video 24 h
    assert "price table:        shipped " in text
    block = text.split("  seeddance-2.0\n", 1)[1]
    assert block.splitlines()[:5] == [
        "    durations:          4-15 s (step 1 s)",
        "    resolutions:        480p, 720p, 1080p",
        "    aspect ratios:      16:9, 9:16, 1:1, 4:3, 3:4, 21:9, adaptive",
        "    reference images:   at most 9",
        "    frames with refs:   no (frames or references)",
    ]


def test_providers_show_json_carries_every_declared_field(recoil_cli) -> None:
    result = recoil_cli("providers", "show", "seeddance", "--json")

    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["models"]["seeddance-2.0"] == {
        "durations": {"min_s": 4.0, "max_s": 15.0, "step_s": 1.0},
        "resolutions": ["480p", "720p", "1080p"],
        "aspect_ratios": ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"],
        "max_reference_images": 9,
        "frames_with_references": False,
    }
    assert info["models"]["seeddance-1.5-pro"]["frames_with_references"] is True
    assert info["cancellable_states"] == ["queued"]
    assert info["cancel_running_billed"] is False
    assert info["find"] == {"supported": True, "window_s": 7 * 24 * 3600.0, "consistency_s": 15.0}
    assert info["output_retention_s"] == 24 * 3600.0  # Ark keeps a video 24 h
    assert info["prices"]["source"].startswith("shipped ")


def test_providers_show_names_the_installed_providers_for_an_unknown_one(recoil_cli) -> None:
    result = recoil_cli("providers", "show", "nope")

    assert result.returncode == 2
    assert "seeddance" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("provider", ["seeddance", "fal", "replicate", "animatic"])
def test_every_listed_model_has_declared_capabilities(recoil_cli, provider: str) -> None:
    result = recoil_cli("providers", "show", provider, "--json")

    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)["models"]
    assert models, f"{provider} declares no model"
    assert all(caps and caps["durations"] for caps in models.values()), models


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in _files(root)}


def test_a_refused_run_leaves_an_episodes_ledger_and_scenes_as_they_were(
    recoil_cli, oner_plan: Path, recoil_env
) -> None:
    """After a run that rendered and recorded takes, refused runs (Seedance, and its
    previs) change no byte of the episode: no scene, take, ledger entry or reservation."""
    root = Path(recoil_env["RECOIL_PROJECTS_ROOT"])
    first = recoil_cli("run", str(oner_plan), "--strategy", "continuity")
    assert first.returncode == 0, first.stdout + first.stderr
    before = _snapshot(root)
    assert any("ledger" in name for name in before), sorted(before)

    paid = recoil_cli(
        "run", str(oner_plan), "--strategy", "oner", "--provider", "seeddance", "--budget", "50",
        env={"ARK_API_KEY": "test-key-not-a-secret", "ARK_BASE_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    previs = recoil_cli("run", str(oner_plan), "--strategy", "oner")

    for result, provider in ((paid, "seeddance"), (previs, "animatic (previs of seeddance)")):
        assert result.returncode == 8, result.stdout + result.stderr
        _says_36s_unit_is_refused(result.stderr, provider=provider)
    assert _snapshot(root) == before


def test_a_model_the_provider_does_not_serve_is_refused_before_anything_is_priced(
    recoil_cli, tmp_path: Path
) -> None:
    """fal lists its models; a plan on seeddance-2.0 sent to fal is refused naming them,
    not handed to fal's estimator (which cannot price it)."""
    plan = _plan(tmp_path, [_shot("EP001_SH01", 5)])

    grouped = recoil_cli("group", str(plan), "-s", "solo", "--provider", "fal")
    dry = recoil_cli("run", str(plan), "--strategy", "solo", "--provider", "fal", "--dry-run")

    for result in (grouped, dry):
        assert result.returncode == 8, (result.stdout, result.stderr)
        assert "asks for seeddance-2.0, which fal does not serve" in result.stderr
        assert "kling-2.1" in result.stderr
        assert "Traceback" not in result.stderr
