"""How a SubmitRequest becomes an Ark create body: content items, models, durations, seeds."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from recoil_seeddance.models import FRIENDLY_MODELS, model_info
from recoil_seeddance.provider import ArkProvider
from recoil_seeddance.request import build_create

from recoil_core.api import ProviderRejected, SubmitRequest

PNG = b"\x89PNG\r\n\x1a\n-not-really-decoded-"


def request(
    *, model: str = "seeddance-2.0", inputs: dict[str, Path] | None = None, **payload: Any
) -> SubmitRequest:
    body: dict[str, Any] = {"prompt": "rain on a tin roof", "model": model, "duration_s": 5.0}
    body.update(payload)
    return SubmitRequest(
        take_id="t1",
        step_id="video",
        modality="video_i2v",
        model=model,
        payload=body,
        seed=123,
        inputs=inputs or {},
    )


def images(body: Any) -> list[dict[str, Any]]:
    return [item for item in body["content"] if item["type"] == "image_url"]


def test_local_first_frame_is_sent_as_a_data_url_with_its_role(tmp_path: Path) -> None:
    frame = tmp_path / "kf.png"
    frame.write_bytes(PNG)
    body = build_create(request(inputs={"first_frame": frame})).body
    assert body["content"][0] == {"type": "text", "text": "rain on a tin roof"}
    [item] = images(body)
    assert item["role"] == "first_frame"
    assert item["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_payload_frames_and_urls_pass_through(tmp_path: Path) -> None:
    last = tmp_path / "end.jpg"
    last.write_bytes(b"jpeg")
    body = build_create(request(first_frame="https://cdn.example/a.png", last_frame=str(last))).body
    roles = [(i["role"], i["image_url"]["url"][:22]) for i in images(body)]
    assert roles == [
        ("first_frame", "https://cdn.example/a."),
        ("last_frame", "data:image/jpeg;base64"),
    ]


def test_step_inputs_win_over_payload_frames(tmp_path: Path) -> None:
    frame = tmp_path / "kf.png"
    frame.write_bytes(PNG)
    body = build_create(
        request(inputs={"first_frame": frame}, first_frame="https://cdn.example/old.png")
    ).body
    [item] = images(body)
    assert item["image_url"]["url"].startswith("data:image/png")


def test_reference_images_each_carry_the_reference_role(tmp_path: Path) -> None:
    ref = tmp_path / "char.webp"
    ref.write_bytes(b"webp")
    body = build_create(request(reference_images=[str(ref), "https://cdn.example/loc.png"])).body
    items = images(body)
    assert [i["role"] for i in items] == ["reference_image", "reference_image"]
    assert items[0]["image_url"]["url"].startswith("data:image/webp;base64,")
    assert items[1]["image_url"]["url"] == "https://cdn.example/loc.png"


def test_every_image_item_has_a_role(tmp_path: Path) -> None:
    ref = tmp_path / "r.png"
    ref.write_bytes(PNG)
    body = build_create(
        request(model="seeddance-1.0-pro", first_frame=str(ref), last_frame=str(ref))
    ).body
    assert all(item.get("role") for item in images(body))


def test_2_0_refuses_frames_mixed_with_references() -> None:
    with pytest.raises(ProviderRejected, match="cannot mix"):
        build_create(request(first_frame="https://x/a.png", reference_images=["https://x/b.png"]))


def test_missing_local_image_is_rejected_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ProviderRejected, match=r"kf\.png"):
        build_create(request(inputs={"first_frame": tmp_path / "kf.png"}))


@pytest.mark.parametrize(("friendly", "model_id"), sorted(FRIENDLY_MODELS.items()))
def test_friendly_model_names_map_to_ark_ids(friendly: str, model_id: str) -> None:
    assert build_create(request(model=friendly)).body["model"] == model_id


def test_ark_model_ids_pass_through_unchanged() -> None:
    body = build_create(request(model="seedance-1-0-lite-t2v-250428")).body
    assert body["model"] == "seedance-1-0-lite-t2v-250428"


@pytest.mark.parametrize(
    ("model", "duration_s", "sent"),
    [
        ("seeddance-2.0", 5.0, 5),
        ("seeddance-2.0", 5.2, 6),
        ("seeddance-2.0", 2.0, 4),
        ("seeddance-2.0", 30.0, 15),
        ("seeddance-1.0-pro", 1.0, 2),
        ("seeddance-1.0-pro", 14.0, 12),
        ("seeddance-1.5-pro", 3.0, 4),
        ("seeddance-1.5-pro", None, 5),
    ],
)
def test_duration_rounds_up_and_clamps_to_the_model_range(
    model: str, duration_s: float | None, sent: int
) -> None:
    assert build_create(request(model=model, duration_s=duration_s)).body["duration"] == sent
    assert model_info(model).duration_for(duration_s) == sent


def test_seed_is_the_take_seed_unless_the_plan_fixes_one() -> None:
    assert build_create(request()).body["seed"] == 123
    fixed = build_create(request(seed=9))
    assert (fixed.body["seed"], fixed.explicit_seed) == (9, True)
    hinted = build_create(request(provider_hints={"seed": 11}))
    assert (hinted.body["seed"], hinted.explicit_seed) == (11, True)


def test_take_seed_is_folded_into_arks_range() -> None:
    req = request()
    big = SubmitRequest(
        take_id="t",
        step_id="s",
        modality="video_t2v",
        model="seeddance-2.0",
        payload=req.payload,
        seed=2**40 + 5,
    )
    assert build_create(big).body["seed"] == 5


def test_flex_tier_is_sent_to_1x_models_and_refused_for_2_0() -> None:
    body = build_create(request(model="seeddance-1.5-pro", provider_hints={"tier": "flex"})).body
    assert body["service_tier"] == "flex"
    assert "service_tier" not in build_create(request(provider_hints={"tier": "default"})).body
    with pytest.raises(ProviderRejected, match="no flex tier"):
        build_create(request(provider_hints={"tier": "flex"}))


def test_generate_audio_is_only_sent_to_models_with_audio() -> None:
    assert "generate_audio" not in build_create(request(model="seeddance-1.0-pro")).body
    assert build_create(request(generate_audio=True)).body["generate_audio"] is True


def test_submit_posts_the_body_with_bearer_auth_to_the_tasks_endpoint() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"id": "cgt-1"})

    async def go() -> str:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        p = ArkProvider(api_key="k1", client=client, base_url="https://ark.test/api/v3/")
        try:
            return await p.submit(request(aspect_ratio="9:16", resolution="1080p"))
        finally:
            await p.aclose()

    assert asyncio.run(go()) == "cgt-1"
    [sent] = seen
    assert str(sent.url) == "https://ark.test/api/v3/contents/generations/tasks"
    assert sent.headers["authorization"] == "Bearer k1"
    body = json.loads(sent.content)
    assert (body["ratio"], body["resolution"], body["watermark"]) == ("9:16", "1080p", False)
