"""The review server: the page, its JSON endpoints and the renders, as one Starlette app.

Reads go through the backend protocol (``episode.py``); every change goes through the
kernel's selection API. Every error is a JSON object ``{"error", "message"}``, never a
traceback page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recoil_core.api import Beat, RecoilError, Take
from recoil_review.episode import Episode, episode_view, inside
from recoil_review.guard import Guard, Refused

STATIC_FILES = {
    "review.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
}
"""The page's assets (no build step), by name, with their content types."""
NOTE_LIMIT = 2000
"""The longest note (and reviewer name) the server accepts, in characters."""

Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def create_app(episode: Episode, guard: Guard, *, reviewer: str, poll_s: float = 2.0) -> Starlette:
    """The review app for ``episode``. ``reviewer`` is who a change is recorded as when
    the page does not say; ``poll_s`` how often the page asks for new takes."""
    static = resources.files("recoil_review") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        guard.check_host(request)
        return Response(page, media_type="text/html; charset=utf-8", headers=_NO_STORE)

    async def asset(request: Request) -> Response:
        guard.check_host(request)
        guard.check_same_origin(request)
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no asset {name!r}")
        body = (static / name).read_text(encoding="utf-8")
        return Response(body, media_type=STATIC_FILES[name], headers=_NO_STORE)

    async def state(request: Request) -> Response:
        guard.check_host(request)
        guard.check_same_origin(request)
        data = episode_view(episode)
        data["reviewer"] = reviewer
        data["token_required"] = guard.token is not None
        data["poll_s"] = poll_s
        return JSONResponse(data, headers=_NO_STORE)

    async def media(request: Request) -> Response:
        guard.check_host(request)
        guard.check_same_origin(request)
        params = request.path_params
        take = _find_take(episode, params["scene_id"], params["beat_id"], params["take_id"])
        step_id = params.get("step_id")
        if step_id is None:
            path = take.render_path
        else:
            try:
                step = take.workflow.step(step_id)
            except KeyError:
                raise HTTPException(404, f"take {take.take_id} has no step {step_id!r}") from None
            path = step.receipt.run_result.output_path if step.receipt is not None else None
        renders = episode.backend.renders_dir(episode.project, episode.episode)
        found = inside(path, renders)
        if found is None:
            raise HTTPException(404, f"take {take.take_id} has no render to show yet")
        return FileResponse(found, headers={"Cache-Control": "no-cache"})

    def change(action: Callable[[str, str, dict[str, Any], str], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            guard.check_host(request)
            guard.check_change(request)
            body = await _json_body(request)
            by = _text(body, "by", required=False) or reviewer
            scene_id, beat_id = request.path_params["scene_id"], request.path_params["beat_id"]
            mark = action(scene_id, beat_id, body, by)
            return JSONResponse({"ok": True, "mark": mark.to_dict()})

        return endpoint

    sel, backend = episode.selection, episode.backend
    where = (backend, episode.project, episode.episode)

    def select(scene_id: str, beat_id: str, body: dict[str, Any], by: str) -> Any:
        take_id = _text(body, "take_id", required=True)
        return sel.select_take(*where, scene_id, beat_id, take_id, by=by)

    def judge(verdict: str) -> Callable[[str, str, dict[str, Any], str], Any]:
        def apply(scene_id: str, beat_id: str, body: dict[str, Any], by: str) -> Any:
            take_id = _text(body, "take_id", required=False)
            note = _text(body, "note", required=False)
            if take_id:  # the verdict is on the take the reviewer looked at
                _select_if_other(episode, scene_id, beat_id, take_id, by)
            if verdict == "approve":
                return sel.approve(*where, scene_id, beat_id, by=by, note=note)
            return sel.reject(*where, scene_id, beat_id, by=by, note=note)

        return apply

    def retake(scene_id: str, beat_id: str, body: dict[str, Any], by: str) -> Any:
        return sel.request_retake(*where, scene_id, beat_id, by=by)

    beat_path = "/api/scenes/{scene_id}/beats/{beat_id}"
    take_path = "/media/{scene_id}/{beat_id}/{take_id}"
    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/episode", state),
        Route(take_path, media),
        Route(take_path + "/{step_id}", media),
        Route(beat_path + "/select", change(select), methods=["POST"]),
        Route(beat_path + "/approve", change(judge("approve")), methods=["POST"]),
        Route(beat_path + "/reject", change(judge("reject")), methods=["POST"]),
        Route(beat_path + "/retake", change(retake), methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(JsonErrors)],
        exception_handlers={
            Refused: _refused,
            HTTPException: _http_error,
            RecoilError: _recoil_error,
            Exception: _internal_error,
        },
    )


_NO_STORE = {"Cache-Control": "no-store"}


def _find_take(episode: Episode, scene_id: str, beat_id: str, take_id: str) -> Take:
    beat = _find_beat(episode, scene_id, beat_id)
    try:
        return beat.take(take_id)
    except KeyError:
        raise HTTPException(404, f"beat {beat_id} has no take {take_id!r}") from None


def _find_beat(episode: Episode, scene_id: str, beat_id: str) -> Beat:
    found = episode.backend.load_active(episode.project, episode.episode, scene_id)
    if found is None:
        raise HTTPException(404, f"{episode.project}/{episode.episode} has no scene {scene_id!r}")
    try:
        return found[0].beat(beat_id)
    except KeyError:
        raise HTTPException(404, f"scene {scene_id} has no beat {beat_id!r}") from None


def _select_if_other(episode: Episode, scene_id: str, beat_id: str, take_id: str, by: str) -> None:
    beat = _find_beat(episode, scene_id, beat_id)
    marks = episode.selection.load_marks(episode.backend, episode.project, episode.episode)
    cut = episode.selection.cut_take(beat, marks.get((scene_id, beat_id)))
    if cut is None or cut.take_id != take_id:
        episode.selection.select_take(
            episode.backend, episode.project, episode.episode, scene_id, beat_id, take_id, by=by
        )


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, *, required: bool) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise HTTPException(400, f"say which {key.replace('_', ' ')} ({key!r} is missing)")
        return ""
    if not isinstance(value, str) or len(value) > NOTE_LIMIT:
        raise HTTPException(400, f"{key!r} must be text of at most {NOTE_LIMIT} characters")
    return value.strip()


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error(exc.status, exc.error, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    names = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
    message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else None
    return error(
        exc.status_code,
        names.get(exc.status_code, "http_error"),
        message or f"no such page: {request.url.path}",
    )


async def _recoil_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RecoilError)
    conflict = getattr(exc, "exit_code", 1) == 4
    return error(409 if conflict else 400, type(exc).__name__, str(exc))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error(500, "internal", f"the review server failed: {type(exc).__name__}: {exc}")


class JsonErrors:
    """Rewrites any error response that is not JSON (Starlette answers a bad Range header
    in plain text, for one) as ``{"error", "message"}``, keeping its status and headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_json_errors(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message["headers"]).get("content-type", "")
                if message["status"] >= 400 and not content_type.startswith("application/json"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status = held["status"]
                text = b"".join(chunks).decode("utf-8", "replace").strip()
                answer = error(status, f"http_{status}", text or HTTPStatus(status).phrase)
                kept = [
                    (name, value)
                    for name, value in held["headers"]
                    if name.lower() not in (b"content-type", b"content-length")
                ]
                await send({**held, "headers": kept + answer.raw_headers})
                await send({"type": "http.response.body", "body": answer.body})
                return
            await send(message)

        await self.app(scope, receive, send_json_errors)
