"""Who the review server answers: cross-site changes are refused everywhere, a server bound
beyond localhost needs its token for every change, and a loopback one answers only to its
own Host names. A refused change writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from recoil_review import Episode, is_loopback, new_token
from starlette.testclient import TestClient

PROJECT, EPISODE = "demo", "EP001"
BEAT = "EP001_SH01"
RETAKE = f"/api/scenes/{BEAT}/beats/{BEAT}/retake"
PAGE = {"X-Recoil-Review": "1"}
ACTIONS = [
    ("select", {"take_id": f"{BEAT}_take_0"}),
    ("approve", {"take_id": f"{BEAT}_take_0"}),
    ("reject", {"take_id": f"{BEAT}_take_0", "note": "no"}),
    ("retake", {}),
]
MakeClient = Callable[..., TestClient]


def marks(episode: Episode) -> dict[tuple[str, str], Any]:
    return dict(episode.selection.load_marks(episode.backend, PROJECT, EPISODE))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "null"},
    ],
    ids=["cross-site", "same-site", "other-origin", "other-port", "opaque-origin"],
)
@pytest.mark.parametrize("local", [True, False], ids=["localhost", "beyond"])
def test_a_cross_site_change_is_refused_and_writes_nothing(
    make_client: MakeClient, episode: Episode, headers: dict[str, str], local: bool
) -> None:
    token = None if local else new_token()
    client = make_client(local=local, token=token)
    sent = {**PAGE, **headers, **({"X-Recoil-Token": token} if token else {})}

    response = client.post(RETAKE, json={}, headers=sent)

    assert response.status_code == 403
    assert response.json()["error"] == "cross_site"
    assert marks(episode) == {}


def test_a_same_origin_change_from_the_page_is_accepted(
    client: TestClient, episode: Episode
) -> None:
    headers = {**PAGE, "Origin": "http://127.0.0.1:8642", "Sec-Fetch-Site": "same-origin"}

    response = client.post(RETAKE, json={}, headers=headers)

    assert response.status_code == 200
    assert marks(episode)[(BEAT, BEAT)].retakes_requested == 1


def test_a_form_post_is_refused(client: TestClient, episode: Episode) -> None:
    response = client.post(RETAKE, data={"a": "b"}, headers=PAGE)

    assert response.status_code == 415
    assert response.json()["error"] == "not_json"
    assert marks(episode) == {}


def test_a_change_without_the_page_header_is_refused(client: TestClient, episode: Episode) -> None:
    response = client.post(RETAKE, json={})

    assert response.status_code == 403
    assert response.json()["message"] == "state changes need the header x-recoil-review: 1"
    assert marks(episode) == {}


def test_cross_site_reads_of_data_and_renders_are_refused(client: TestClient) -> None:
    cross = {"Sec-Fetch-Site": "cross-site"}

    data = client.get("/api/episode", headers=cross)
    render = client.get(f"/media/{BEAT}/{BEAT}/{BEAT}_take_0", headers=cross)
    page = client.get("/", headers={**cross, "Sec-Fetch-Mode": "navigate"})

    assert (data.status_code, render.status_code) == (403, 403)
    assert page.status_code == 200  # following a link to the page is fine


@pytest.mark.parametrize("action", ACTIONS, ids=[name for name, _ in ACTIONS])
@pytest.mark.parametrize("sent", [None, "wrong"], ids=["no-token", "wrong-token"])
def test_beyond_localhost_every_change_needs_the_token(
    make_client: MakeClient,
    episode: Episode,
    action: tuple[str, dict[str, Any]],
    sent: str | None,
) -> None:
    client = make_client(local=False, token=new_token(), base_url="http://192.0.2.10:8642")
    name, body = action
    headers = {**PAGE, **({"X-Recoil-Token": sent} if sent else {})}

    response = client.post(f"/api/scenes/{BEAT}/beats/{BEAT}/{name}", json=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "token_required"
    assert marks(episode) == {}


def test_beyond_localhost_a_change_with_the_token_is_accepted(
    make_client: MakeClient, episode: Episode
) -> None:
    token = new_token()
    client = make_client(local=False, token=token, base_url="http://192.0.2.10:8642")

    response = client.post(RETAKE, json={}, headers={**PAGE, "X-Recoil-Token": token})
    data = client.get("/api/episode").json()

    assert response.status_code == 200
    assert marks(episode)[(BEAT, BEAT)].retakes_requested == 1
    assert data["token_required"] is True
    assert token not in client.get("/").text and token not in str(data)


def test_on_localhost_no_token_is_asked(client: TestClient, episode: Episode) -> None:
    response = client.post(RETAKE, json={}, headers=PAGE)

    assert response.status_code == 200
    assert client.get("/api/episode").json()["token_required"] is False


@pytest.mark.parametrize("host", ["evil.example:8642", "127.0.0.1.evil.example", "10.0.0.5:8642"])
def test_a_loopback_server_refuses_other_host_names(
    client: TestClient, episode: Episode, host: str
) -> None:
    for response in (
        client.get("/", headers={"Host": host}),
        client.get("/api/episode", headers={"Host": host}),
        client.post(RETAKE, json={}, headers={**PAGE, "Host": host}),
    ):
        assert response.status_code == 421
        assert response.json()["error"] == "wrong_host"
    assert marks(episode) == {}


@pytest.mark.parametrize("host", ["localhost:8642", "127.0.0.1", "[::1]:8642"])
def test_a_loopback_server_answers_its_own_names(client: TestClient, host: str) -> None:
    assert client.get("/api/episode", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("review.studio.example", False),
    ],
)
def test_which_addresses_keep_the_server_on_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_tokens_are_fresh_and_long() -> None:
    tokens = {new_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(len(token) >= 43 for token in tokens)
