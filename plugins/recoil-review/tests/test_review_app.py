"""The review server's endpoints through Starlette's TestClient: the page, the episode's
data, renders with HTTP ranges, and every change persisted through the selection API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from recoil_review import Episode, Guard, create_app
from starlette.testclient import TestClient

from recoil_core.api import PersistenceBackend

PROJECT, EPISODE = "demo", "EP001"
SH01, SH02, SH03 = "EP001_SH01", "EP001_SH02", "EP001_SH03"
PAGE = {"X-Recoil-Review": "1"}
"""What the page sends with every change, beside its JSON body."""


def beat_of(data: dict[str, Any], beat_id: str) -> dict[str, Any]:
    for scene in data["scenes"]:
        for beat in scene["beats"]:
            if beat["beat_id"] == beat_id:
                return beat
    raise AssertionError(f"no beat {beat_id} in the page data")


def marks(episode: Episode) -> dict[tuple[str, str], Any]:
    return dict(episode.selection.load_marks(episode.backend, PROJECT, EPISODE))


def post(client: TestClient, beat: str, action: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/scenes/{beat}/beats/{beat}/{action}", json=body, headers=PAGE)


# ------------------------------------------------------------------ the page and its data


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    script = client.get("/static/review.js")
    style = client.get("/static/review.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/review.js">' in page.text
    assert script.status_code == 200 and "/api/episode" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


def test_an_unknown_asset_is_a_json_404(client: TestClient) -> None:
    response = client.get("/static/../../etc/passwd")
    missing = client.get("/static/app.py")

    assert response.status_code == 404
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "no asset 'app.py'"}


def test_the_episode_lists_scenes_beats_and_takes_in_plan_order(client: TestClient) -> None:
    data = client.get("/api/episode").json()

    assert (data["project"], data["episode"]) == (PROJECT, EPISODE)
    assert [s["scene_id"] for s in data["scenes"]] == [SH01, SH02, SH03]
    takes = beat_of(data, SH01)["takes"]
    assert [t["take_id"] for t in takes] == [f"{SH01}_take_0", f"{SH01}_take_1"]
    first = takes[0]
    assert first["state"] == "succeeded"
    assert first["prompt"] == f"prompt of {SH01}"
    assert first["provider"] == "scripted"
    assert first["model"] == "seeddance-2.0"
    assert isinstance(first["seed"], int)
    assert first["cost_usd"] == "0.5000"  # a keyframe and a video at $0.25
    assert first["video_url"] == f"/media/{SH01}/{SH01}/{SH01}_take_0"
    keyframe = next(r for r in first["references"] if r["role"] == "first_frame")
    assert keyframe["source"] == "kf"
    assert keyframe["url"] == f"/media/{SH01}/{SH01}/{SH01}_take_0/kf"
    assert data["reviewer"] == "ana" and data["token_required"] is False


def test_a_failed_take_shows_its_state_and_error_and_has_no_player(client: TestClient) -> None:
    beat = beat_of(client.get("/api/episode").json(), SH03)

    (take,) = beat["takes"]
    assert take["state"] == "failed"
    assert take["video_url"] is None
    assert beat["cut_take_id"] is None


def test_spend_is_the_ledger_total_against_the_cap(client: TestClient) -> None:
    spend = client.get("/api/episode").json()["spend"]

    # two succeeded takes, each a keyframe and a video at $0.25 (the failed one billed nothing)
    assert spend == {
        "spent_usd": "1.0000",
        "cap_usd": "1.5000",
        "remaining_usd": "0.5000",
        "over_cap": False,
        "charges": 4,
    }


def test_the_revision_changes_when_a_run_adds_a_take(
    client: TestClient, add_take: Callable[[str, bytes], str]
) -> None:
    before = client.get("/api/episode").json()
    again = client.get("/api/episode").json()
    take_id = add_take(SH02, b"a retake")
    after = client.get("/api/episode").json()

    assert before["revision"] == again["revision"]
    assert after["revision"] != before["revision"]
    assert take_id in [t["take_id"] for t in beat_of(after, SH02)["takes"]]


# ------------------------------------------------------------------ renders


def render_of(episode: Episode, take_id: str) -> bytes:
    found = episode.backend.load_active(PROJECT, EPISODE, take_id.split("_take_")[0])
    assert found is not None
    take = found[0].beats[0].take(take_id)
    assert take.render_path is not None
    return Path(take.render_path).read_bytes()


def test_a_render_is_served_whole_and_says_it_takes_ranges(
    client: TestClient, episode: Episode
) -> None:
    response = client.get(f"/media/{SH01}/{SH01}/{SH01}_take_1")

    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == render_of(episode, f"{SH01}_take_1")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=100-199", 100, 200), ("bytes=11990-", 11990, 12000), ("bytes=-25", 11975, 12000)],
)
def test_a_range_request_returns_206_with_exactly_those_bytes(
    client: TestClient, episode: Episode, header: str, start: int, end: int
) -> None:
    body = render_of(episode, f"{SH01}_take_1")
    assert len(body) == 12000

    response = client.get(f"/media/{SH01}/{SH01}/{SH01}_take_1", headers={"Range": header})

    assert response.status_code == 206
    assert response.content == body[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/12000"


def test_a_range_past_the_end_is_a_json_416(client: TestClient) -> None:
    response = client.get(f"/media/{SH01}/{SH01}/{SH01}_take_1", headers={"Range": "bytes=50000-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */12000"
    assert response.json()["error"] == "http_416"


def test_a_malformed_range_is_a_json_400(client: TestClient) -> None:
    response = client.get(f"/media/{SH01}/{SH01}/{SH01}_take_1", headers={"Range": "lines=1-2"})

    assert response.status_code == 400
    assert response.json() == {"error": "http_400", "message": "Only support bytes range"}


def test_a_keyframe_of_a_take_is_served(client: TestClient) -> None:
    response = client.get(f"/media/{SH01}/{SH01}/{SH01}_take_0/kf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/media/{SH03}/{SH03}/{SH03}_take_0", f"take {SH03}_take_0 has no render to show yet"),
        (f"/media/{SH01}/{SH01}/nope", f"beat {SH01} has no take 'nope'"),
        (f"/media/{SH01}/nope/x", f"scene {SH01} has no beat 'nope'"),
        ("/media/nope/x/y", f"{PROJECT}/{EPISODE} has no scene 'nope'"),
        (f"/media/{SH01}/{SH01}/{SH01}_take_0/nope", f"take {SH01}_take_0 has no step 'nope'"),
    ],
)
def test_what_has_no_render_is_a_json_404(client: TestClient, path: str, message: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": message}


def test_a_render_path_outside_the_renders_folder_is_never_served(
    client: TestClient, episode: Episode, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not a render")
    backend: PersistenceBackend = episode.backend
    found = backend.load_active(PROJECT, EPISODE, SH02)
    assert found is not None
    scene, version = found
    scene.beats[0].takes[0].render_path = str(secret)
    backend.save_scene(PROJECT, EPISODE, scene, expected_version=version)

    response = client.get(f"/media/{SH02}/{SH02}/{SH02}_take_0")

    assert response.status_code == 404
    assert "not a render" not in response.text


# ------------------------------------------------------------------ changes


def test_select_persists_the_chosen_take(client: TestClient, episode: Episode) -> None:
    response = post(client, SH01, "select", {"take_id": f"{SH01}_take_0", "by": "bo"})

    assert response.status_code == 200
    assert response.json()["mark"]["selected_take"] == f"{SH01}_take_0"
    mark = marks(episode)[(SH01, SH01)]
    assert (mark.selected_take, mark.by) == (f"{SH01}_take_0", "bo")
    beat = beat_of(client.get("/api/episode").json(), SH01)
    assert beat["cut_take_id"] == f"{SH01}_take_0"
    assert [t["selected"] for t in beat["takes"]] == [True, False]


def test_approve_of_a_take_selects_it_and_records_the_verdict(
    client: TestClient, episode: Episode
) -> None:
    response = post(client, SH01, "approve", {"take_id": f"{SH01}_take_0", "note": "lovely"})

    assert response.status_code == 200
    mark = marks(episode)[(SH01, SH01)]
    assert (mark.selected_take, mark.verdict, mark.note, mark.by) == (
        f"{SH01}_take_0",
        "approved",
        "lovely",
        "ana",
    )


def test_reject_with_a_note_is_persisted(client: TestClient, episode: Episode) -> None:
    response = post(client, SH02, "reject", {"take_id": f"{SH02}_take_0", "note": "too dark"})

    assert response.status_code == 200
    mark = marks(episode)[(SH02, SH02)]
    assert (mark.verdict, mark.note) == ("rejected", "too dark")


def test_reject_without_a_note_is_refused_with_the_reason(
    client: TestClient, episode: Episode
) -> None:
    response = post(client, SH02, "reject", {"note": ""})

    assert response.status_code == 400
    assert response.json()["error"] == "SelectionError"
    assert "say why" in response.json()["message"]
    assert (SH02, SH02) not in marks(episode)


def test_a_retake_request_is_counted_and_pending(client: TestClient, episode: Episode) -> None:
    first = post(client, SH02, "retake", {})
    second = post(client, SH02, "retake", {})

    assert (first.status_code, second.status_code) == (200, 200)
    assert marks(episode)[(SH02, SH02)].retakes_requested == 2
    assert beat_of(client.get("/api/episode").json(), SH02)["pending_retakes"] == 2


def test_a_failed_take_cannot_be_selected(client: TestClient, episode: Episode) -> None:
    response = post(client, SH03, "select", {"take_id": f"{SH03}_take_0"})

    assert response.status_code == 400
    assert "not succeeded" in response.json()["message"]
    assert marks(episode) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "say which take id ('take_id' is missing)"),
        ({"take_id": 7}, "'take_id' must be text of at most 2000 characters"),
        ({"take_id": "x" * 2001}, "'take_id' must be text of at most 2000 characters"),
    ],
)
def test_a_change_with_a_bad_field_is_a_json_400(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    response = post(client, SH01, "select", body)

    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "message": message}


def test_a_body_that_is_not_a_json_object_is_a_json_400(client: TestClient) -> None:
    broken = client.post(
        f"/api/scenes/{SH01}/beats/{SH01}/select",
        content=b"{not json",
        headers={**PAGE, "Content-Type": "application/json"},
    )
    listed = client.post(f"/api/scenes/{SH01}/beats/{SH01}/select", json=[1], headers=PAGE)

    assert broken.status_code == 400
    assert broken.json()["message"] == "the request body is not valid JSON"
    assert listed.json()["message"] == "the request body must be a JSON object"


def test_an_unknown_scene_is_refused_with_what_exists(client: TestClient) -> None:
    response = post(client, "nope", "retake", {})

    assert response.status_code == 400
    assert "has no scene 'nope'" in response.json()["message"]


# ------------------------------------------------------------------ errors are JSON


def test_unknown_pages_and_methods_are_json(client: TestClient) -> None:
    missing = client.get("/nope")
    wrong = client.get(f"/api/scenes/{SH01}/beats/{SH01}/select")

    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "no such page: /nope"}
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


class BrokenBackend:
    """A backend whose every read fails, as a store gone away would."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise OSError("the store is gone")

        return fail


def test_a_failure_inside_the_server_is_json_not_a_traceback(episode: Episode) -> None:
    broken = Episode(
        backend=BrokenBackend(),  # type: ignore[arg-type]
        selection=episode.selection,
        project=PROJECT,
        episode=EPISODE,
    )
    app = create_app(broken, Guard(local=True), reviewer="ana")
    with TestClient(app, base_url="http://127.0.0.1:8642", raise_server_exceptions=False) as client:
        response = client.get("/api/episode")

    assert response.status_code == 500
    assert response.json() == {
        "error": "internal",
        "message": "the review server failed: OSError: the store is gone",
    }
    assert "Traceback" not in response.text
