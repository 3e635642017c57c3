"""The review page in real headless Chromium (Debian's ``chromium``, driven by playwright):
an episode rendered offline by the animatic (real ``recoil run``), served by the real
``recoil review`` server; a video plays and seeks over HTTP ranges, a retake asked for in
the page arrives with the next run, and its selection and approval survive a reload and a
restart of the server. Screenshots go to ``$RECOIL_ARTIFACTS/review`` (else ``tmp_path``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recoil_review.testing import CHROMIUM

from recoil_core.testing.pytest_plugin import RecoilCli

WAIT_MS = 30_000
"""How long the page may take to show what a step waits for (a run, a poll, a seek)."""
REVIEWER = "director"
BEAT = "EP001_SH03"
"""The solo beat whose retake the test asks for (its scene is the second one)."""

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium (`apt-get install chromium`; "
        ".ci/run does it)",
        allow_module_level=True,
    )
if importlib.util.find_spec("playwright") is None:
    pytest.skip(
        "playwright is not installed: pip install -e 'plugins/recoil-review[test]'",
        allow_module_level=True,
    )
if importlib.util.find_spec("recoil_animatic") is None:
    pytest.skip(
        "recoil-animatic (which renders the episode offline) is not installed: "
        "pip install -e 'plugins/recoil-review[test]'",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from recoil_review.testing import CHROMIUM_ARGS, ReviewServer  # noqa: E402

PLAN = {
    "schema_version": 1,
    "project": "dailies",
    "episode": "EP001",
    "defaults": {"duration_s": 2, "resolution": "480p"},
    "sequences": {
        "SEQ01": {
            "shots": [
                {"shot_id": "EP001_SH01", "prompt": "A diner at night, neon sign in the rain."},
                {"shot_id": "EP001_SH02", "prompt": "The waitress pours coffee at the counter."},
            ]
        },
        "SEQ02": {"shots": [{"shot_id": BEAT, "prompt": "The rooftop, town lights below."}]},
    },
}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    root = os.environ.get("RECOIL_ARTIFACTS")
    folder = Path(root) / "review" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def plan(tmp_path: Path, recoil_cli: RecoilCli) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="utf-8")
    rendered = recoil_cli("run", str(path))
    assert rendered.returncode == 0, rendered.stderr
    return path


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


@pytest.fixture
def serve(plan: Path, recoil_env: dict[str, str]) -> Iterator[Any]:
    started: list[ReviewServer] = []

    def start(host: str = "127.0.0.1") -> ReviewServer:
        args = ["--host", host, "--budget", "5", "--by", REVIEWER]
        server = ReviewServer(plan, recoil_env, args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def take_card(page: Page, take_id: str) -> Any:
    return page.locator(f'article[data-take="{take_id}"]')


def beat_section(page: Page, beat_id: str) -> Any:
    return page.locator(f'section[data-beat="{beat_id}"]')


def test_the_animatic_renders_are_h264_mp4s_chromium_can_play(
    plan: Path, recoil_env: dict[str, str]
) -> None:
    renders = Path(recoil_env["RECOIL_PROJECTS_ROOT"]) / "dailies" / "EP001" / "renders"
    videos = sorted(renders.glob("*.mp4"))

    assert len(videos) == 2  # the continuity scene of SH01-SH02 and the solo SH03
    for video in videos:
        head = video.read_bytes()
        assert head[4:8] == b"ftyp"
        assert b"avc1" in head and b"avcC" in head  # an H.264 sample entry and its config


def test_a_director_plays_seeks_asks_for_a_retake_and_approves_it(
    plan: Path, serve: Any, browser: Browser, recoil_cli: RecoilCli, screenshots: Path
) -> None:
    server = serve()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    media_statuses: list[int] = []
    page.on(
        "response",
        lambda response: (
            media_statuses.append(response.status) if "/media/" in response.url else None
        ),
    )
    page.goto(server.url)
    page.wait_for_selector("article[data-take] video", timeout=WAIT_MS)

    assert page.locator("section[data-scene]").count() == 2
    assert page.locator("article[data-take]").count() == 2
    assert "spent $0.0000 of $5.0000 cap" in page.locator("#spend").inner_text()
    assert page.evaluate(
        "document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.64001e\"')"
    ) in ("probably", "maybe")

    # play: the first player's clock advances
    video = "document.querySelector('article[data-take] video')"
    page.evaluate(f"{video}.play()")
    page.wait_for_function(f"{video}.currentTime > 0.5", timeout=WAIT_MS)
    page.screenshot(path=screenshots / "01-playing.png", full_page=True)
    # seek: the player jumps within the file (the server answers with byte ranges)
    page.evaluate(f"{video}.pause(); {video}.currentTime = 1.5")
    page.wait_for_function(
        f"!{video}.seeking && Math.abs({video}.currentTime - 1.5) < 0.1", timeout=WAIT_MS
    )
    assert 206 in media_statuses

    # ask for a retake of the rooftop shot; the next run renders it and the page shows it
    beat = beat_section(page, BEAT)
    beat.locator('button[data-action="retake"]').click()
    page.wait_for_function(
        f"document.querySelector('section[data-beat=\"{BEAT}\"] [data-testid=mark]')"
        ".textContent.includes('1 retake(s) requested')",
        timeout=WAIT_MS,
    )
    rerun = recoil_cli("run", str(plan), "--max-takes", "2")
    assert rerun.returncode == 0, rerun.stderr
    retake = f"{BEAT}_take_1"
    take_card(page, retake).locator("video").wait_for(timeout=WAIT_MS)  # arrives by polling
    page.screenshot(path=screenshots / "02-retake-arrived.png", full_page=True)

    # select the retake, then approve it
    take_card(page, retake).locator('button[data-action="select"]').click()
    take_card(page, retake).locator('[data-testid="in-cut"]').wait_for(timeout=WAIT_MS)
    take_card(page, retake).locator('button[data-action="approve"]').click()
    take_card(page, retake).locator('[data-testid="verdict"]').wait_for(timeout=WAIT_MS)

    page.reload()
    take_card(page, retake).locator('[data-testid="verdict"]').wait_for(timeout=WAIT_MS)
    assert take_card(page, retake).locator('[data-testid="verdict"]').inner_text() == "approved"
    assert take_card(page, f"{BEAT}_take_0").locator('[data-testid="in-cut"]').count() == 0
    mark = beat_section(page, BEAT).locator('[data-testid="mark"]').inner_text()
    assert mark.startswith(f"approved by {REVIEWER}")
    page.screenshot(path=screenshots / "03-approved-after-reload.png", full_page=True)

    # a new server over the same store shows the same marks: they are persisted
    server.stop()
    again = serve()
    page.goto(again.url)
    take_card(page, retake).locator('[data-testid="verdict"]').wait_for(timeout=WAIT_MS)
    status = recoil_cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert retake in status.stdout and "approved" in status.stdout


def test_beyond_localhost_the_page_needs_the_printed_token(
    serve: Any, browser: Browser, screenshots: Path
) -> None:
    server = serve(host="0.0.0.0")
    (line,) = [text for text in server.printed if "#token=" in text]
    token = line.rsplit("#token=", 1)[1]
    page = browser.new_page()

    page.goto(server.url)
    page.wait_for_selector("article[data-take]", timeout=WAIT_MS)
    beat_section(page, BEAT).locator('button[data-action="retake"]').click()
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('state changes need the token')",
        timeout=WAIT_MS,
    )
    page.screenshot(path=screenshots / "04-token-refused.png", full_page=True)
    assert "retake" not in beat_section(page, BEAT).locator('[data-testid="mark"]').inner_text()

    page.goto(f"{server.url}#token={token}")
    page.wait_for_selector("article[data-take]", timeout=WAIT_MS)
    assert "#token" not in page.url  # taken from the address bar once read
    beat_section(page, BEAT).locator('button[data-action="retake"]').click()
    page.wait_for_function(
        f"document.querySelector('section[data-beat=\"{BEAT}\"] [data-testid=mark]')"
        ".textContent.includes('1 retake(s) requested')",
        timeout=WAIT_MS,
    )
