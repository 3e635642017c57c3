"""The fal provider: submit, poll, find, download and cancel requests on fal's queue API.

Plain HTTP over httpx, not fal's client: its ``submit()`` retries the POST by itself and
a retried create can be paid twice. Here a create is sent once; only a 429 (nothing was
made) is retried. A create whose outcome is unknown raises ``ambiguous_create`` and the
runner asks :meth:`FalProvider.find`, which reads fal's request listing for the take's
request key in the stored input.

A job id is ``<endpoint id>|<seconds>|<request id>``: the endpoint names the queue URLs
(owner/app) and the price, the seconds what a successful output bills, so a later run
prices a job without this process's memory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import mimetypes
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx

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
    http_error,
    only_rate_limited,
    retrying,
    unreachable,
    write_media,
)
from recoil_fal.models import PRICE_KEY, REQUEST_KEY_FIELD, model_for
from recoil_fal.plugin import KEY_ENV
from recoil_fal.plugin import limits as env_limits
from recoil_fal.pricing import price_table

log = logging.getLogger("recoil_fal")

QUEUE_URL = "https://queue.fal.run"
API_URL = "https://api.fal.ai"
LISTING = "/v1/models/requests/by-endpoint"
AMBIGUOUS_CREATE = "ambiguous_create"
MODERATION_TYPES = ("content_policy_violation", "content_moderation", "nsfw")
CANCELLED_TYPES = ("request_cancelled", "cancelled")
API_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=60.0)
DEFAULT_RETRY = RetryPolicy()


@attrs.frozen
class JobRef:
    endpoint: str
    seconds: int
    request_id: str

    @property
    def app(self) -> str:
        """``owner/app``: the queue URLs drop the endpoint's subpath."""
        return "/".join(self.endpoint.split("/")[:2])

    def __str__(self) -> str:
        return f"{self.endpoint}|{self.seconds}|{self.request_id}"

    @classmethod
    def parse(cls, job_id: str) -> JobRef:
        parts = job_id.split("|")
        if len(parts) != 3 or not parts[1].isdigit():
            raise TaskNotFound(f"{job_id!r} is not a fal job id of this provider", code="bad_id")
        return cls(parts[0], int(parts[1]), parts[2])


def _detail(content: bytes) -> tuple[str | None, str]:
    """``(error type, message)`` of a fal error body (``{"detail": ...}``)."""
    try:
        data = json.loads(content)
    except ValueError:
        return None, content[:200].decode("utf-8", "replace")
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        return str(first.get("type") or "") or None, str(first.get("msg") or "")[:300]
    kind = data.get("error_type") if isinstance(data, dict) else None
    return (str(kind) if kind else None), str(detail or "")[:300]


def error_for(op: str, response: httpx.Response, content: bytes) -> ProviderError:
    kind, message = _detail(content)
    kind = kind or response.headers.get("x-fal-error-type")
    return http_error(
        "fal",
        op,
        response.status_code,
        response.headers,
        code=kind,
        message=message,
        auth_hint=f"the API key was refused; check {KEY_ENV}",
        not_found_ops=("status", "cancel"),
        moderated=bool(kind) and any(t in str(kind) for t in MODERATION_TYPES),
    )


class FalProvider:
    """A :class:`recoil_core.api.Provider` for video models on fal's queue API."""

    def __init__(
        self,
        *,
        api_key: str,
        client: httpx.AsyncClient,
        queue_url: str = QUEUE_URL,
        api_url: str = API_URL,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock_skew_s: float = 120.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._key = Secret(api_key)
        self._client = client
        self._queue = queue_url.rstrip("/")
        self._api = api_url.rstrip("/")
        self._retry = retry
        self._skew = clock_skew_s
        self._sleep = sleep
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"FalProvider(queue_url={self._queue!r})"

    # ------------------------------------------------------------------ Provider API

    async def submit(self, request: SubmitRequest) -> str:
        model = model_for(request.model)
        image = request.inputs.get("first_frame")
        try:
            body = model.build_input(
                request.payload,
                image_url=_data_uri(image) if image is not None else None,
                request_key=request.request_key,
            )
        except ValueError as exc:
            raise ProviderRejected(str(exc), code="duration_out_of_range") from None
        endpoint = model.endpoint(with_image=image is not None)
        try:
            data = await self._call(
                "submit", "POST", f"{self._queue}/{endpoint}", json=body, retry_if=only_rate_limited
            )
        except RateLimited:
            raise
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(
                f"{exc}; the request may exist: look it up with find() before sending again",
                code=AMBIGUOUS_CREATE,
            ) from None
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise ProviderUnavailable(
                "fal submit: answer without a request id; the request may exist",
                code=AMBIGUOUS_CREATE,
            )
        return str(JobRef(endpoint, int(body["duration"]), request_id))

    async def poll(self, job_id: str) -> JobStatus:
        ref = JobRef.parse(job_id)
        base = f"{self._queue}/{ref.app}/requests/{ref.request_id}"
        data = await self._call("status", "GET", f"{base}/status")
        state = data.get("status") if isinstance(data, dict) else None
        if state == "IN_QUEUE":
            return JobStatus(
                job_id, "queued", metadata={"queue_position": data.get("queue_position")}
            )
        if state == "IN_PROGRESS":
            return JobStatus(job_id, "running")
        if state != "COMPLETED":
            raise ProviderUnavailable(
                f"fal status {job_id}: unexpected {state!r}", code="malformed_response"
            )
        error, kind = data.get("error"), str(data.get("error_type") or "")
        if error or kind:
            cancelled = any(t in kind for t in CANCELLED_TYPES)
            return JobStatus(
                job_id,
                "cancelled" if cancelled else "failed",
                error_code=kind or "request_failed",
                error_message=str(error or kind)[:300],
            )
        return await self._result(ref, job_id, base)

    async def _result(self, ref: JobRef, job_id: str, base: str) -> JobStatus:
        table = price_table()
        key = PRICE_KEY.get(ref.endpoint, ref.endpoint)
        metadata: dict[str, Any] = {
            "endpoint": ref.endpoint,
            "seconds": ref.seconds,
            "price_table": table.label,
            "price_table_as_of": table.as_of,
        }
        try:
            response = await self._request("result", "GET", base)
        except ProviderError as exc:
            if isinstance(exc, ProviderRejected) and exc.code in (
                "http_404",
                "http_410",
                "not_found",
            ):
                return self._expired(job_id, table.cost_usd(key, ref.seconds), metadata)
            raise
        try:
            data = response.json()
        except ValueError:
            raise ProviderUnavailable(
                f"fal result {job_id}: unreadable JSON", code="malformed_response"
            ) from None
        video = data.get("video") if isinstance(data, dict) else None
        url = video.get("url") if isinstance(video, dict) else None
        units_header = response.headers.get("x-fal-billable-units")
        try:
            units = float(units_header) if units_header is not None else None
        except ValueError:
            units = None
        cost = table.cost_usd(key, ref.seconds, units)
        metadata["billable_units"] = units
        if not url:
            return self._expired(job_id, cost, metadata)
        return JobStatus(job_id, "succeeded", cost_usd=cost, media_url=str(url), metadata=metadata)

    def _expired(self, job_id: str, cost: float, metadata: dict[str, Any]) -> JobStatus:
        """A completed, billed request whose output is gone (past fal's retention)."""
        return JobStatus(
            job_id,
            "expired",
            cost_usd=cost,
            error_code="output_expired",
            error_message=(
                f"fal request {job_id}: its queue result is gone (fal keeps it 1 h after the "
                "request ends) before the output could be downloaded; the request was billed"
            ),
            metadata=metadata,
        )

    async def find(self, request: SubmitRequest) -> str | None:
        """The request this take's lost create made: fal's listing of the endpoint's
        requests since the take entered ``submitting`` (less clock skew), matched on the
        request key stored in the input. More than one match raises LookupAmbiguous."""
        if not request.request_key:
            return None
        model = model_for(request.model)
        endpoint = model.endpoint(with_image="first_frame" in request.inputs)
        since = request.submitting_at or (datetime.now(UTC) - timedelta(hours=24))
        params: dict[str, Any] = {
            "endpoint_id": endpoint,
            "start": (since - timedelta(seconds=self._skew)).astimezone(UTC).isoformat(),
            "expand": "payloads",
            "limit": 100,
        }
        found: list[str] = []
        for _page in range(50):
            data = await self._call("list", "GET", f"{self._api}{LISTING}", params=params)
            items = data.get("items") if isinstance(data, dict) else None
            for item in items if isinstance(items, list) else []:
                payload = item.get("json_input") if isinstance(item, dict) else None
                if (
                    isinstance(payload, dict)
                    and payload.get(REQUEST_KEY_FIELD) == request.request_key
                ):
                    seconds = str(payload.get("duration") or "0")
                    found.append(
                        str(
                            JobRef(
                                endpoint,
                                int(seconds) if seconds.isdigit() else 0,
                                str(item["request_id"]),
                            )
                        )
                    )
            cursor = data.get("next_cursor") if isinstance(data, dict) else None
            if not (isinstance(data, dict) and data.get("has_more") and cursor):
                break
            params["cursor"] = cursor
        if len(found) > 1:
            raise LookupAmbiguous(
                f"fal lists {len(found)} requests carrying {request.take_id}'s request key; "
                "not guessing",
                code="ambiguous_lookup",
            )
        return found[0] if found else None

    async def download(self, status: JobStatus, dest: Path) -> None:
        if not status.media_url:
            raise ProviderUnavailable(
                f"fal job {status.job_id} has no video URL", code="media_missing"
            )
        attempt = 0
        while True:
            try:
                async with self._client.stream(
                    "GET", status.media_url, timeout=DOWNLOAD_TIMEOUT
                ) as response:
                    if response.status_code == 200:
                        await write_media(response.aiter_bytes(), dest)
                        return
                    if response.status_code in (404, 410):
                        # fal's CDN does not sign URLs: a deleted file does not come back
                        raise OutputExpired(
                            f"fal request {status.job_id}: its video answers HTTP "
                            f"{response.status_code}; fal deleted it (media is kept at least "
                            "7 days, the queue result 1 h)",
                            job_id=status.job_id,
                        )
                    error: ProviderError = ProviderUnavailable(
                        f"fal download: HTTP {response.status_code}",
                        code=f"http_{response.status_code}",
                    )
            except httpx.HTTPError as exc:
                error = ProviderUnavailable(
                    f"fal download: {type(exc).__name__}", code="connection"
                )
            dest.unlink(missing_ok=True)
            attempt += 1
            if attempt >= self._retry.attempts:
                raise error
            await self._sleep(self._retry.delay(attempt, error, self._rng))

    async def cancel(self, job_id: str) -> None:
        """Ask fal to cancel: a queued request is removed and never runs (nothing billed);
        a running one only gets a signal, and may finish and bill (so ``running`` is not
        declared cancellable); a completed one answers ALREADY_COMPLETED."""
        ref = JobRef.parse(job_id)
        await self._call(
            "cancel", "PUT", f"{self._queue}/{ref.app}/requests/{ref.request_id}/cancel"
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ HTTP

    async def _call(
        self,
        op: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_if: Callable[[ProviderError], bool] | None = None,
    ) -> Any:
        response = await self._request(op, method, url, json=json, params=params, retry_if=retry_if)
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(
                f"fal {op}: unreadable JSON", code="malformed_response"
            ) from None

    async def _request(
        self,
        op: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_if: Callable[[ProviderError], bool] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Key {self._key.reveal()}"}

        async def attempt() -> httpx.Response | ProviderError:
            try:
                response = await self._client.request(
                    method, url, json=json, params=params, headers=headers
                )
                content = response.content
            except httpx.HTTPError as exc:
                timed_out = isinstance(exc, httpx.TimeoutException)
                return unreachable("fal", op, exc, timed_out=timed_out)
            if 200 <= response.status_code < 300:
                return response
            return error_for(op, response, content)

        return await retrying(
            attempt,
            policy=self._retry,
            rng=self._rng,
            sleep=self._sleep,
            retry_if=retry_if,
            log=log,
            what=f"fal {op}",
        )


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def create_provider(ctx: ProviderContext) -> FalProvider:
    """The ProviderSpec factory: key and URLs from ``ctx.env``, pool sized for concurrency."""
    key = ctx.env.get(KEY_ENV, "")
    if not key:
        raise ProviderRejected(f"{KEY_ENV} is not set", code="missing_key")
    connections = int(ctx.settings.get("concurrency") or env_limits(ctx.env).concurrency) + 4
    pool = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    client = httpx.AsyncClient(limits=pool, timeout=API_TIMEOUT, follow_redirects=True)
    return FalProvider(
        api_key=key,
        client=client,
        queue_url=ctx.env.get("FAL_QUEUE_URL") or QUEUE_URL,
        api_url=ctx.env.get("FAL_API_URL") or API_URL,
    )
