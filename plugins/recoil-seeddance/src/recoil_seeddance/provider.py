"""The Seedance provider: create, poll, find, download and cancel Ark generation tasks.

Retries (GET, list, DELETE, download; create only on 429) live in ``_call``. A create
whose outcome is unknown (timeout, dropped connection, 5xx, unreadable answer) is never
retried: it raises ProviderUnavailable with code ``ambiguous_create`` and the runner
asks :meth:`ArkProvider.find`.
"""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from recoil_core.api import (
    JobStatus,
    LookupAmbiguous,
    OutputExpired,
    ProviderContext,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
    Secret,
    SubmitRequest,
    TaskNotFound,
    only_rate_limited,
    retrying,
    unreachable,
    write_media,
)
from recoil_seeddance.errors import AMBIGUOUS_CREATE, error_body, error_for_status
from recoil_seeddance.models import model_info
from recoil_seeddance.plugin import DEFAULT_POLL_BATCH, OUTPUT_RETENTION_S, poll_batch
from recoil_seeddance.plugin import concurrency as env_concurrency
from recoil_seeddance.polling import PollBatcher
from recoil_seeddance.pricing import price_table
from recoil_seeddance.request import SAFETY_IDENTIFIER_MAX, build_create, match_key
from recoil_seeddance.transport import (
    HttpSession,
    TransportError,
    as_session,
    make_client,
    transport_name,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("recoil_seeddance")

DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
DEFAULT_CONCURRENCY = 10
TASKS = "/contents/generations/tasks"
STATES = frozenset({"queued", "running", "succeeded", "failed", "cancelled", "expired"})
UNLISTED = ("resolution", "ratio", "duration")
"""Create fields a task's GET echoes and its list item does not."""
MEDIA_URL_REFRESHES = 2
DEFAULT_RETRY = RetryPolicy()

Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen
class FindPolicy:
    """How far :meth:`ArkProvider.find` looks back through the task list."""

    clock_skew_s: float = 120.0
    """Tasks created up to this long before ``submitting_at`` still count (clock drift)."""
    page_size: int = 50
    max_pages: int = 20
    max_candidates: int = 8
    """Listed candidates fetched with a GET to confirm them (more means no identity)."""


def _never(error: ProviderError) -> bool:
    return False


def _complete(item: Mapping[str, Any]) -> bool:
    """Whether a listed task says all a GET would about its state and its bill.

    Queued and running tasks need only their status. A final task also needs its model,
    resolution and usage (what it was billed, even when failed) and, when its price
    depends on it, ``generate_audio``; a succeeded one its video URL.
    """
    state = item.get("status")
    if state in ("queued", "running"):
        return True
    if state not in STATES or not item.get("model") or "resolution" not in item:
        return False
    usage = item.get("usage")
    if not (isinstance(usage, dict) and "completion_tokens" in usage):
        return False
    content = item.get("content")
    if state == "succeeded" and not (isinstance(content, dict) and content.get("video_url")):
        return False
    prices = price_table().models.get(model_info(str(item["model"])).family, {})
    return "silent" not in prices or "generate_audio" in item


class ArkProvider:
    """A :class:`recoil_core.contracts.provider.Provider` for Seedance over the Ark task API."""

    def __init__(
        self,
        *,
        api_key: str,
        client: HttpSession | httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy = DEFAULT_RETRY,
        find_policy: FindPolicy = FindPolicy(),
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        poll_batch: int = DEFAULT_POLL_BATCH,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``poll_batch``: polls waiting at once are answered by one list request of up to
        this many tasks (see :mod:`recoil_seeddance.polling`); 0 or 1 polls each with GET."""
        self._key = Secret(api_key)
        self._client = as_session(client)
        self._base_url = base_url.rstrip("/")
        self._retry = retry
        self._find = find_policy
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self._sent: dict[str, dict[str, Any]] = {}
        """What this provider's creates sent that a task list item does not echo
        (resolution, ratio, duration), by task id: a listed final task of this run needs
        no GET to be priced. Tasks of other runs are priced from a GET."""
        self._batcher = (
            PollBatcher(self._get_status, self._list_statuses, max_ids=poll_batch)
            if poll_batch > 1
            else None
        )

    def __repr__(self) -> str:
        return f"ArkProvider(base_url={self._base_url!r})"

    # ------------------------------------------------------------------ Provider API

    async def submit(self, request: SubmitRequest) -> str:
        call = build_create(request)
        try:
            data = await self._call(
                "create", "POST", TASKS, json=call.body, retry_if=only_rate_limited
            )
        except RateLimited:
            raise
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(
                f"{exc}; the task may exist: look it up with find() before creating again",
                code=AMBIGUOUS_CREATE,
            ) from None
        task_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderUnavailable(
                "Ark create: answer without a task id; the task may exist", code=AMBIGUOUS_CREATE
            )
        log.debug("Ark created task %s for %s/%s", task_id, request.take_id, request.step_id)
        self._sent[task_id] = {k: call.body[k] for k in UNLISTED if k in call.body}
        return task_id

    async def poll(self, job_id: str) -> JobStatus:
        if self._batcher is not None:
            return await self._batcher.poll(job_id)
        return await self._get_status(job_id)

    async def find(self, request: SubmitRequest) -> str | None:
        """The task this request's lost create made, if Ark has it.

        Ark has no idempotency key and no search: its task list (filtered by exactly the
        model id the create sent, newest first, the last 7 days) is read back to the
        moment the take entered ``submitting``. A listed task is a candidate when it
        carries the request's ``safety_identifier`` (its random request key), or, where
        the list echoes none, the request's seed. List items lack resolution, ratio and
        duration: each candidate is fetched with a GET and kept only if those match too.
        More than one candidate raises LookupAmbiguous (a plan-fixed seed shared by other
        takes, with no identifier echoed): the runner never guesses.
        """
        info, seed, explicit = match_key(request)
        key = request.request_key[:SAFETY_IDENTIFIER_MAX] or None
        if key is None and seed < 0:
            return None
        since = None
        if request.submitting_at is not None:
            since = request.submitting_at.timestamp() - self._find.clock_skew_s
        candidates: list[str] = []
        for page in range(1, self._find.max_pages + 1):
            params = {
                "page_num": page,
                "page_size": self._find.page_size,
                "filter.model": info.model_id,
            }
            data = await self._call("list", "GET", TASKS, params=params)
            items = data.get("items") if isinstance(data, dict) else None
            items = items if isinstance(items, list) else []
            older = False
            for item in items:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                created = item.get("created_at")
                if since is not None and isinstance(created, (int, float)) and created < since:
                    older = True
                    break
                if _candidate(item, key, seed):
                    candidates.append(str(item["id"]))
            total = data.get("total") if isinstance(data, dict) else None
            last_page = isinstance(total, int) and page * self._find.page_size >= total
            if older or last_page or len(items) < self._find.page_size:
                break
        wanted = build_params(request)
        confirmed = [
            task_id
            for task_id in candidates[: self._find.max_candidates]
            if await self._confirm(task_id, wanted)
        ]
        if len(confirmed) > 1:
            raise LookupAmbiguous(
                f"Ark lists {len(confirmed)} tasks ({', '.join(confirmed)}) that could be "
                f"{request.take_id}/{request.step_id}'s "
                + ("(the plan fixes the seed they share)" if explicit else "(same seed)")
                + "; not guessing",
                code="ambiguous_lookup",
            )
        return confirmed[0] if confirmed else None

    async def _confirm(self, task_id: str, wanted: Mapping[str, Any]) -> bool:
        """Whether the task's GET shows the resolution, ratio and duration the create sent
        (a list item does not carry them). A task gone (404) is not the take's to adopt."""
        try:
            data = await self._call("get", "GET", f"{TASKS}/{quote(task_id, safe='')}")
        except TaskNotFound:
            return False
        if not isinstance(data, dict):
            return False
        return all(data.get(name) in (None, value) for name, value in wanted.items())

    async def download(self, status: JobStatus, dest: Path) -> None:
        url = status.media_url or (await self._get_status(status.job_id)).media_url
        refreshes = 0
        attempt = 0
        try:
            while True:
                if not url:
                    raise ProviderUnavailable(
                        f"Ark task {status.job_id} has no video URL", code="media_missing"
                    )
                error, expired = await self._fetch(url, dest)
                if error is None:
                    return
                if expired:
                    if refreshes >= MEDIA_URL_REFRESHES:
                        await self._raise_if_expired(status)
                        raise ProviderUnavailable(
                            f"Ark task {status.job_id}: its video URL keeps answering "
                            "expired/denied; poll the task again later",
                            code="media_expired",
                        )
                    refreshes += 1  # a GET of the task signs a fresh URL
                    url = (await self._get_status(status.job_id)).media_url
                    continue
                attempt += 1
                if not error.retryable or attempt >= self._retry.attempts:
                    raise error
                log.info("Ark download of %s: %s; retrying", status.job_id, error)
                await self._sleep(self._retry.delay(attempt, error, self._rng))
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    async def _raise_if_expired(self, status: JobStatus) -> None:
        """OutputExpired when the task ended longer ago than Ark keeps its video (its
        ``updated_at``, Unix seconds): the URL will not come back; the task's bill stands."""
        data = await self._call("get", "GET", f"{TASKS}/{quote(status.job_id, safe='')}")
        ended = data.get("updated_at") if isinstance(data, dict) else None
        if isinstance(ended, bool) or not isinstance(ended, int | float):
            return
        age = self._wall_clock() - float(ended)
        if age >= OUTPUT_RETENTION_S:
            raise OutputExpired(
                f"Ark task {status.job_id} ended {age / 3600:.1f} h ago and its video URL "
                f"answers expired/denied: Ark keeps a video about "
                f"{OUTPUT_RETENTION_S / 3600:.0f} h",
                job_id=status.job_id,
            )

    async def cancel(self, job_id: str) -> None:
        await self._call("cancel", "DELETE", f"{TASKS}/{quote(job_id, safe='')}")

    async def aclose(self) -> None:
        if self._batcher is not None:
            await self._batcher.aclose()
        await self._client.aclose()

    # ------------------------------------------------------------------ polling

    async def _get_status(self, job_id: str) -> JobStatus:
        data = await self._call("get", "GET", f"{TASKS}/{quote(job_id, safe='')}")
        return self._status(job_id, data)

    async def _list_statuses(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """The listed state of each task in one request; a task missing from the answer,
        or listed without all its bill depends on, is left out (the caller GETs it)."""
        params = {"page_num": 1, "page_size": len(job_ids), "filter.task_ids": list(job_ids)}
        data = await self._call("list", "GET", TASKS, params=params, retry_if=_never)
        items = data.get("items") if isinstance(data, dict) else None
        wanted = set(job_ids)
        found: dict[str, JobStatus] = {}
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or item.get("id") not in wanted:
                continue
            item = {**self._sent.get(item["id"], {}), **item}  # what the list leaves out
            if not _complete(item):
                continue
            try:
                found[item["id"]] = self._status(item["id"], item)
            except ProviderError:
                continue
        return found

    # ------------------------------------------------------------------ HTTP

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_if: Callable[[ProviderError], bool] | None = None,
    ) -> Any:
        return await retrying(
            lambda: self._attempt(op, method, path, json=json, params=params),
            policy=self._retry,
            rng=self._rng,
            sleep=self._sleep,
            retry_if=retry_if,
            log=log,
            what=f"Ark {op}",
        )

    async def _attempt(
        self, op: str, method: str, path: str, *, json: Any, params: Mapping[str, Any] | None
    ) -> Any:
        """The parsed answer, or the ProviderError it maps to (returned, not raised)."""
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        body = None if json is None else _json_body(json)
        try:
            answer = await self._client.request(
                method, self._base_url + path, headers=headers, body=body, params=_query(params)
            )
        except TransportError as exc:
            return unreachable("Ark", op, exc.cause, timed_out=exc.timed_out)
        if not 200 <= answer.status < 300:
            return error_for_status(
                op, answer.status, answer.content, answer.headers, scrub=self._key.reveal()
            )
        try:
            return json_module.loads(answer.content)
        except ValueError:
            return ProviderUnavailable(
                f"Ark {op}: HTTP {answer.status} with an unreadable JSON body",
                code="malformed_response",
            )

    async def _fetch(self, url: str, dest: Path) -> tuple[ProviderError | None, bool]:
        """Stream ``url`` into ``dest``: (error or None, whether the URL looks expired).

        The media host gets no Authorization header.
        """
        try:
            async with self._client.download(url) as response:
                if response.status == 200:
                    await write_media(response.chunks(), dest)
                    return None, False
                content = await response.read()
                status, headers = response.status, response.headers
        except TransportError as exc:
            return unreachable("Ark", "download", exc.cause, timed_out=exc.timed_out), False
        if status in (403, 404, 410):
            return ProviderUnavailable(f"Ark download: HTTP {status}", code="media_expired"), True
        code, message = error_body(content)
        not_ready = "not_ready" in (code or "") or "not ready" in message.lower()
        if status == 400 and not_ready:
            return ProviderUnavailable(
                "Ark download: video not ready yet", code="video_not_ready"
            ), False
        return error_for_status("download", status, content, headers), False

    # ------------------------------------------------------------------ task -> JobStatus

    def _status(self, job_id: str, data: Any) -> JobStatus:
        state = data.get("status") if isinstance(data, dict) else None
        if state not in STATES:
            raise ProviderUnavailable(
                f"Ark get {job_id}: unexpected task status {state!r}", code="malformed_response"
            )
        model_id = str(data.get("model") or "")
        info = model_info(model_id)
        table = price_table()
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = int(usage.get("completion_tokens") or 0)
        generate_audio = data.get("generate_audio") if info.supports_audio else None
        price = table.usd_per_mtok(
            info.family,
            resolution=data.get("resolution"),
            generate_audio=generate_audio if isinstance(generate_audio, bool) else None,
        )
        content = data.get("content") if isinstance(data.get("content"), dict) else {}
        error = data.get("error") or data.get("failure_reason")  # a list item's name for it
        error = error if isinstance(error, dict) else {}
        media_url = content.get("video_url") if state == "succeeded" else None
        if state == "succeeded" and not media_url:
            raise ProviderUnavailable(
                f"Ark get {job_id}: succeeded without a video URL", code="media_missing"
            )
        metadata: dict[str, Any] = {
            key: data[key]
            for key in ("model", "seed", "resolution", "ratio", "duration", "service_tier")
            if key in data
        }
        metadata["completion_tokens"] = tokens
        metadata["usd_per_million_tokens"] = price
        metadata["price_table_as_of"] = table.as_of
        metadata["price_table"] = table.label
        if content.get("last_frame_url"):
            metadata["last_frame_url"] = content["last_frame_url"]
        return JobStatus(
            job_id=job_id,
            state=state,
            cost_usd=table.cost_usd(tokens, price),
            media_url=str(media_url) if media_url else None,
            error_code=str(error["code"]) if error.get("code") else None,
            error_message=str(error.get("message") or "") or None,
            metadata=metadata,
        )


def _json_body(value: Any) -> bytes:
    """A request body as httpx's ``json=`` encodes it: compact, UTF-8, no NaN."""
    text = json_module.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode()


def _query(params: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
    """Query parameters as pairs; a list value repeats its name (``filter.task_ids``)."""
    if not params:
        return None
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


def build_params(request: SubmitRequest) -> Mapping[str, Any]:
    """The create fields a listed task echoes (model, seed, resolution, ratio, duration)."""
    info = match_key(request)[0]
    payload = request.payload
    return {
        "resolution": str(payload.get("resolution") or "720p"),
        "ratio": str(payload.get("aspect_ratio") or "16:9"),
        "duration": info.duration_for(payload.get("duration_s")),
    }


def _candidate(item: Mapping[str, Any], key: str | None, seed: int) -> bool:
    """Whether a listed task may be the request's: its ``safety_identifier`` where the
    list echoes one (then nothing else can be confused with it), else its seed."""
    echoed = item.get("safety_identifier")
    if key is not None and echoed is not None:
        return bool(echoed == key)
    if key is not None and "safety_identifier" in item:
        return False
    return seed >= 0 and item.get("seed") == seed


def create_provider(ctx: ProviderContext) -> ArkProvider:
    """The ProviderSpec factory: key and base URL from ``ctx.env``, pool sized for concurrency."""
    key = ctx.env.get("ARK_API_KEY", "")
    if not key:
        raise ProviderRejected("ARK_API_KEY is not set", code="missing_key")
    concurrency = int(ctx.settings.get("concurrency") or env_concurrency(ctx.env))
    client = make_client(transport=transport_name(ctx.env), connections=concurrency + 4)
    return ArkProvider(
        api_key=key,
        client=client,
        base_url=ctx.env.get("ARK_BASE_URL") or DEFAULT_BASE_URL,
        poll_batch=poll_batch(ctx.env),
    )
