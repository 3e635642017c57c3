"""The Seedance estimator: equals the billed cost of a succeeded clip, never below it."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from recoil_seeddance.estimate import ESTIMATOR, estimate_payload_usd
from recoil_seeddance.models import FRIENDLY_MODELS, model_info
from recoil_seeddance.pricing import price_table
from recoil_seeddance.provider import ArkProvider
from recoil_seeddance.testing.fake_ark import DIMENSIONS, FakeArkServer, billed_tokens
from recoil_seeddance.transport import make_client

from recoil_core.api import SubmitRequest, WorkflowStep

RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"]


def test_a_720p_5s_16_9_clip_is_108900_tokens() -> None:
    assert price_table().tokens("720p", "16:9", 5) == 108_900
    assert billed_tokens("720p", "16:9", 5) == 108_900


def test_price_table_is_dated() -> None:
    assert price_table().as_of[:4].isdigit()


def test_estimator_reads_the_step_payload_and_model() -> None:
    step = WorkflowStep(
        step_id="video",
        modality="video_i2v",
        model="seeddance-2.0",
        payload={"duration_s": 5, "resolution": "720p", "aspect_ratio": "16:9"},
    )
    assert ESTIMATOR.provider == "seeddance"
    assert ESTIMATOR.estimate(step) == pytest.approx(108_900 * 7.0 / 1e6)


@pytest.mark.parametrize(
    "friendly", sorted(FRIENDLY_MODELS) + [f"{family}-261015" for family in price_table().models]
)
def test_estimate_is_never_below_what_the_fake_bills(friendly: str) -> None:
    """Over the whole table: every listed family (by Ark id) and every friendly name."""
    info = model_info(friendly)
    table = price_table()
    for resolution, ratio, duration_s in itertools.product(
        DIMENSIONS, RATIOS, [0.5, 2, 4.1, 5, 9.9, 12, 15, 40]
    ):
        payload = {"resolution": resolution, "aspect_ratio": ratio, "duration_s": duration_s}
        for audio in (True, False):
            payload["generate_audio"] = audio
            billed = billed_tokens(resolution, ratio, info.duration_for(duration_s))
            price = table.usd_per_mtok(
                info.family,
                resolution=resolution,
                generate_audio=audio if info.supports_audio else None,
            )
            assert estimate_payload_usd(friendly, payload) >= table.cost_usd(billed, price)


@pytest.mark.parametrize(
    ("model", "resolution", "ratio", "duration_s", "audio"),
    [
        ("seeddance-2.0", "720p", "16:9", 5.0, True),
        ("seeddance-2.0", "1080p", "9:16", 7.5, False),
        ("seeddance-2.0-fast", "480p", "1:1", 4.0, False),
        ("seeddance-1.5-pro", "720p", "21:9", 6.0, False),
        ("seeddance-1.5-pro", "1080p", "4:3", 10.0, True),
        ("seeddance-1.0-pro", "1080p", "16:9", 3.0, False),
        ("seeddance-1.0-pro-fast", "720p", "3:4", 12.0, False),
    ],
)
def test_cost_reported_after_the_job_equals_the_estimate(
    model: str, resolution: str, ratio: str, duration_s: float, audio: bool
) -> None:
    payload = {
        "prompt": "a fox in snow",
        "model": model,
        "resolution": resolution,
        "aspect_ratio": ratio,
        "duration_s": duration_s,
        "generate_audio": audio,
    }
    req = SubmitRequest(
        take_id="t", step_id="video", modality="video_t2v", model=model, payload=payload, seed=3
    )

    async def go(ark: FakeArkServer) -> float:
        p = ArkProvider(
            api_key=ark.api_key,
            client=make_client(transport="httpx", connections=2),
            base_url=ark.base_url,
        )
        try:
            return (await p.poll(await p.submit(req))).cost_usd
        finally:
            await p.aclose()

    with FakeArkServer() as ark:
        cost = asyncio.run(go(ark))
    assert cost > 0
    assert cost == pytest.approx(estimate_payload_usd(model, payload))


def test_unknown_model_family_is_priced_at_the_highest_listed_price() -> None:
    table = price_table()
    highest = max(p for prices in table.models.values() for p in prices.values())
    assert table.usd_per_mtok("seedance-9-0-ultra") == highest


def test_seedance_2_5_and_2_0_mini_are_priced_with_their_dates() -> None:
    import json
    from importlib import resources

    table = price_table()
    raw = json.loads(
        resources.files("recoil_seeddance").joinpath("data/prices.json").read_text("utf-8")
    )
    assert table.usd_per_mtok("dreamina-seedance-2-5") == 10.7
    assert table.usd_per_mtok("dreamina-seedance-2-0-mini") > 0
    assert set(raw["listed_since"]) >= {"dreamina-seedance-2-5", "dreamina-seedance-2-0-mini"}
    assert table.label == f"shipped {table.as_of}"


def test_a_studio_price_file_overrides_and_adds_models(tmp_path, monkeypatch) -> None:
    import json

    from recoil_seeddance.pricing import PRICES_ENV

    prices = tmp_path / "contract.json"
    prices.write_text(
        json.dumps(
            {
                "as_of": "2026-11-01",
                "models": {
                    "dreamina-seedance-2-0": {"default": 5.0},
                    "dreamina-seedance-3-0": {"default": 12.0},
                },
            }
        )
    )
    monkeypatch.setenv(PRICES_ENV, str(prices))
    table = price_table()
    assert table.label == f"{prices} 2026-11-01"
    assert table.usd_per_mtok("dreamina-seedance-2-0") == 5.0
    assert table.usd_per_mtok("dreamina-seedance-2-0", resolution="1080p") == 7.7  # kept
    assert table.usd_per_mtok("dreamina-seedance-3-0") == 12.0
    payload = {"resolution": "720p", "aspect_ratio": "16:9", "duration_s": 5}
    assert estimate_payload_usd("seeddance-2.0", payload) == pytest.approx(108_900 * 5.0 / 1e6)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{", "not a readable JSON file"),
        ('{"models": {}}', "as_of: required"),
        ('{"as_of": "2026-11-01", "models": {"x": {"default": -1}}}', "models.x.default"),
        ('{"as_of": "2026-11-01", "models": {"new-family": {"1080p": 3}}}', "default: required"),
    ],
)
def test_a_bad_price_file_stops_the_run_in_preflight_naming_file_and_field(
    tmp_path, content: str, says: str
) -> None:
    from recoil_seeddance.plugin import check
    from recoil_seeddance.pricing import PRICES_ENV

    from recoil_core.api import ProviderContext

    prices = tmp_path / "contract.json"
    prices.write_text(content)
    problems = check(ProviderContext(env={"ARK_API_KEY": "k", PRICES_ENV: str(prices)}))
    assert any(str(prices) in p and says in p for p in problems), problems


def test_every_estimate_records_its_price_table(tmp_path, monkeypatch) -> None:
    import json

    from recoil_seeddance.pricing import PRICES_ENV

    from recoil_core.api import Workflow
    from recoil_core.testing.installed import InstalledPlugins

    installed = InstalledPlugins("seeddance")
    step = WorkflowStep("video", "video_i2v", provider="seeddance", model="seeddance-2.0")
    installed.estimate(Workflow("wf", [step]))
    assert step.estimate_source == f"shipped {price_table().as_of}"

    prices = tmp_path / "contract.json"
    prices.write_text(json.dumps({"as_of": "2026-11-01", "models": {}}))
    monkeypatch.setenv(PRICES_ENV, str(prices))
    installed.estimate(Workflow("wf", [step]))
    assert step.estimate_source == f"{prices} 2026-11-01"
