"""The Replicate provider: create, poll, find, download and cancel predictions.

Retries (GET, list, cancel, download; create only on 429) live in ``_call``. A create whose
outcome is unknown (timeout, dropped connection, 5xx, unreadable answer) is never retried:
it raises ProviderUnavailable with code ``ambiguous_create`` and the runner asks
:meth:`ReplicateProvider.find`.

Replicate deletes an API prediction's input, output and files an hour after it finishes.
The runner downloads a succeeded prediction's output at once; a prediction polled after
that hour reports the final state ``expired`` with code ``output_expired``, the reason and
what it billed, so the take ends ``failed_but_billed`` instead of waiting for an output
that is gone (``ProviderSpec.output_retention_s`` declares the hour).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

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
    only_rate_limited,
    retrying,
    unreachable,
    write_media,
)
from recoil_replicate.errors import (
    AMBIGUOUS_CREATE,
    MODERATED,
    OUTPUT_EXPIRED,
    error_for_status,
    is_moderation,
)
from recoil_replicate.models import OFFICIAL, OfficialModel, VersionedModel
from recoil_replicate.pricing import PriceTable, price_table
from recoil_replicate.request import KEY_FIELD, billed_output, build_create, requested_model
from recoil_replicate.transport import DOWNLOAD_TIMEOUT, make_client, transport_name

log = logging.getLogger("recoil_replicate")

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
STATES: Mapping[str, str] = {
    "starting": "queued",
    "processing": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "cancelled",
    "aborted": "cancelled",  # its deadline passed before it started: nothing billed
}
MAX_ERROR = 300
DEFAULT_RETRY = RetryPolicy()

Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen
class FindPolicy:
    """How :meth:`ReplicateProvider.find` reads the predictions list."""

    clock_skew_s: float = 120.0
    """Predictions created up to this long before ``submitting_at`` still count."""
    max_pages: int = 20
    """Pages (100 predictions each) read before the search gives up as incomplete."""


@attrs.frozen
class _Sent:
    """What an official-model create asked for: what its bill depends on."""

    duration_s: int
    resolution: str


class ReplicateProvider:
    """A :class:`recoil_core.api.Provider` for video models on Replicate."""

    def __init__(
        self,
        *,
        api_token: str,
        client: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy = DEFAULT_RETRY,
        find_policy: FindPolicy = FindPolicy(),
        prices: Callable[[], PriceTable] = price_table,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._token = Secret(api_token)
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._retry = retry
        self._find = find_policy
        self._prices = prices
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: dict[str, _Sent] = {}
        self._settled: dict[str, JobStatus] = {}
        """Predictions a ``Prefer: wait`` create answered final: the first poll needs no GET."""

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self._base_url!r})"

    # ------------------------------------------------------------------ Provider API

    async def submit(self, request: SubmitRequest) -> str:
        call = build_create(request)
        headers = {"Prefer": f"wait={call.wait_s}"} if call.wait_s else {}
        timeout = (
            httpx.Timeout(connect=10.0, read=call.wait_s + 30.0, write=60.0, pool=60.0)
            if call.wait_s
            else None
        )
        try:
            data = await self._call(
                "create",
                "POST",
                call.path,
                json=call.body,
                headers=headers,
                timeout=timeout,
                retry_if=only_rate_limited,
            )
        except RateLimited:
            raise
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(
                f"{exc}; the prediction may exist: look it up with find() before creating again",
                code=AMBIGUOUS_CREATE,
            ) from None
        prediction_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(prediction_id, str) or not prediction_id:
            raise ProviderUnavailable(
                "Replicate create: answer without a prediction id; the prediction may exist",
                code=AMBIGUOUS_CREATE,
            )
        if call.duration_s is not None and call.resolution is not None:
            self._sent[prediction_id] = _Sent(call.duration_s, call.resolution)
        log.debug("Replicate created %s for %s/%s", prediction_id, request.take_id, request.step_id)
        try:
            status = self._status(prediction_id, data)
        except ProviderError:
            return prediction_id
        if status.is_final:
            self._settled[prediction_id] = status
        return prediction_id

    async def poll(self, job_id: str) -> JobStatus:
        settled = self._settled.pop(job_id, None)
        if settled is not None:
            return settled
        data = await self._call("get", "GET", f"/predictions/{quote(job_id, safe='')}")
        return self._status(job_id, data)

    def remember(self, job_id: str, request: SubmitRequest) -> None:
        """The request the kernel persisted for ``job_id`` before its create: an official
        model's output seconds and resolution (its bill) are kept for the polls, so a run
        that did not create the prediction bills it exactly after Replicate removed its
        input. A request this provider would refuse leaves nothing."""
        if job_id in self._sent:
            return
        try:
            output = billed_output(request)
        except ProviderRejected:
            return
        if output is not None:
            self._sent[job_id] = _Sent(*output)

    async def find(self, request: SubmitRequest) -> str | None:
        """The prediction this request's lost create made, if Replicate still shows it.

        Replicate has no idempotency key and no search: its predictions list (newest first,
        ``created_after`` the moment the take entered ``submitting``, less clock skew) is read
        page by page. A prediction is the request's when its input carries the request key
        (:data:`~recoil_replicate.request.KEY_FIELD`). A prediction of the same model in that
        window whose input was already removed (an hour after it finished), or shows no key
        at all, cannot be told apart: the search raises LookupAmbiguous rather than guess.
        """
        key = request.request_key
        if not key:
            return None
        model = requested_model(request)
        params: dict[str, str] = {}
        if request.submitting_at is not None:
            since = request.submitting_at - timedelta(seconds=self._find.clock_skew_s)
            params["created_after"] = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        matches: list[str] = []
        unconfirmed: list[str] = []
        url: str | None = "/predictions"
        pages = 0
        while url is not None:
            if pages >= self._find.max_pages:
                raise ProviderUnavailable(
                    f"Replicate list: more than {pages} pages of predictions since the create; "
                    "the search was not finished",
                    code="search_incomplete",
                )
            data = await self._call("list", "GET", url, params=params if pages == 0 else None)
            pages += 1
            results = data.get("results") if isinstance(data, dict) else None
            for item in results if isinstance(results, list) else []:
                if not isinstance(item, dict) or not item.get("id") or not _same_model(item, model):
                    continue
                inputs = item.get("input")
                echoed = inputs.get(KEY_FIELD) if isinstance(inputs, dict) else None
                if echoed == key:
                    matches.append(str(item["id"]))
                elif echoed is None and (
                    item.get("data_removed")
                    or not isinstance(inputs, dict)
                    or inputs.get("prompt") == request.payload.get("prompt")
                ):
                    unconfirmed.append(str(item["id"]))
            url = self._next_page(data)
        if len(matches) > 1:
            raise LookupAmbiguous(
                f"Replicate lists {len(matches)} predictions ({', '.join(matches)}) carrying "
                f"{request.take_id}/{request.step_id}'s request key; not guessing",
                code="ambiguous_lookup",
            )
        if matches:
            return matches[0]
        if unconfirmed:
            raise LookupAmbiguous(
                f"Replicate lists {len(unconfirmed)} prediction(s) of this model created since "
                f"{request.take_id}/{request.step_id} was sent ({', '.join(unconfirmed[:5])}) "
                "whose input no longer shows a request key (removed an hour after they "
                "finished, or never stored); any could be this create: not guessing",
                code="unconfirmable_lookup",
            )
        return None

    async def download(self, status: JobStatus, dest: Path) -> None:
        url = status.media_url
        attempt = 0
        try:
            while True:
                if not url:
                    url = await self._fresh_media_url(status.job_id)
                error, gone = await self._fetch(url, dest)
                if error is None:
                    return
                if gone:
                    url = await self._fresh_media_url(status.job_id)
                attempt += 1
                if not error.retryable or attempt >= self._retry.attempts:
                    raise error
                log.info("Replicate download of %s: %s; retrying", status.job_id, error)
                await self._sleep(self._retry.delay(attempt, error, self._rng))
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    async def cancel(self, job_id: str) -> None:
        await self._call("cancel", "POST", f"/predictions/{quote(job_id, safe='')}/cancel")

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ helpers

    async def _fresh_media_url(self, job_id: str) -> str:
        """The output URL a GET shows now; OutputExpired when Replicate removed it (an hour
        after the prediction finished: it will not come back, and its bill stands)."""
        status = await self.poll(job_id)
        if status.media_url:
            return status.media_url
        if status.error_code == OUTPUT_EXPIRED:
            raise OutputExpired(
                status.error_message or f"Replicate removed prediction {job_id}'s output",
                job_id=job_id,
            )
        raise ProviderUnavailable(
            status.error_message
            or f"Replicate prediction {job_id} is {status.state} and has no output to download",
            code=status.error_code or "media_missing",
        )

    def _next_page(self, data: Any) -> str | None:
        """The ``next`` page URL, kept only when it is on the API's own host."""
        url = data.get("next") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            return None
        if urlsplit(url).netloc != urlsplit(self._base_url).netloc:
            raise ProviderUnavailable(
                f"Replicate list: next page on another host ({urlsplit(url).netloc})",
                code="malformed_response",
            )
        return url

    def _media_headers(self, url: str) -> dict[str, str]:
        if sends_token_to(url, self._base_url):
            return {"Authorization": f"Bearer {self._token.reveal()}"}
        return {}

    # ------------------------------------------------------------------ HTTP

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        retry_if: Callable[[ProviderError], bool] | None = None,
    ) -> Any:
        return await retrying(
            lambda: self._attempt(
                op, method, path, json=json, params=params, headers=headers, timeout=timeout
            ),
            policy=self._retry,
            rng=self._rng,
            sleep=self._sleep,
            retry_if=retry_if,
            log=log,
            what=f"Replicate {op}",
        )

    async def _attempt(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        timeout: httpx.Timeout | None,
    ) -> Any:
        """The parsed answer, or the ProviderError it maps to (returned, not raised)."""
        url = path if path.startswith(("http://", "https://")) else self._base_url + path
        sent = {"Authorization": f"Bearer {self._token.reveal()}", **(headers or {})}
        try:
            response = await self._client.request(
                method,
                url,
                json=json,
                params=params,
                headers=sent,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            content = response.content
        except httpx.HTTPError as exc:
            return unreachable(
                "Replicate", op, exc, timed_out=isinstance(exc, httpx.TimeoutException)
            )
        if not 200 <= response.status_code < 300:
            return error_for_status(
                op, response.status_code, content, response.headers, scrub=self._token.reveal()
            )
        try:
            return response.json()
        except ValueError:
            return ProviderUnavailable(
                f"Replicate {op}: HTTP {response.status_code} with an unreadable JSON body",
                code="malformed_response",
            )

    async def _fetch(self, url: str, dest: Path) -> tuple[ProviderError | None, bool]:
        """Stream ``url`` into ``dest``: (error or None, whether the file is gone)."""
        try:
            async with self._client.stream(
                "GET", url, headers=self._media_headers(url), timeout=DOWNLOAD_TIMEOUT
            ) as response:
                if response.status_code == 200:
                    await write_media(response.aiter_bytes(), dest)
                    return None, False
                content = await response.aread()
                status = response.status_code
                headers = response.headers
        except httpx.HTTPError as exc:
            timed_out = isinstance(exc, httpx.TimeoutException)
            return unreachable("Replicate", "download", exc, timed_out=timed_out), False
        if status in (403, 404, 410):
            return ProviderUnavailable(
                f"Replicate download: HTTP {status}", code="media_gone"
            ), True
        return error_for_status(
            "download", status, content, headers, scrub=self._token.reveal()
        ), False

    # ------------------------------------------------------------------ prediction -> JobStatus

    def _status(self, job_id: str, data: Any) -> JobStatus:
        raw_state = data.get("status") if isinstance(data, dict) else None
        state = STATES.get(str(raw_state))
        if state is None:
            raise ProviderUnavailable(
                f"Replicate get {job_id}: unexpected prediction status {raw_state!r}",
                code="malformed_response",
            )
        table = self._prices()
        final = state in ("succeeded", "failed", "cancelled", "expired")
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        predict_time = _seconds(metrics.get("predict_time"))
        metadata: dict[str, Any] = {
            "model": data.get("model"),
            "version": data.get("version"),
            "replicate_status": raw_state,
            "price_table": table.label,
            "price_table_as_of": table.as_of,
        }
        if predict_time is not None:
            metadata["predict_time_s"] = predict_time
        ref = str(data.get("model") or "")
        if ref in OFFICIAL:
            cost = self._official_cost(job_id, OFFICIAL[ref], data, state, table, metadata)
        else:
            hardware, per_s, _entry = table.versioned_price(ref, str(data.get("version") or ""))
            metadata["hardware"] = hardware
            metadata["usd_per_second"] = per_s
            cost = round((predict_time or 0.0) * per_s, 6) if final else 0.0
        media_url = _output_url(data.get("output")) if state == "succeeded" else None
        error = data.get("error")
        error_text = str(error)[:MAX_ERROR].replace(self._token.reveal(), "***") if error else None
        error_code = (
            (MODERATED if is_moderation(error_text) else "prediction_failed")
            if state == "failed"
            else None
        )
        if state == "succeeded" and media_url is None:
            removed = bool(data.get("data_removed"))
            state = "expired" if removed else "failed"
            error_code = OUTPUT_EXPIRED if removed else "media_missing"
            error_text = (
                f"Replicate removed prediction {job_id}'s output (API predictions keep it "
                "one hour after they finish)"
                if removed
                else f"Replicate prediction {job_id} succeeded without an output file; it was "
                f"billed ${cost:.4f}"
            )
        return JobStatus(
            job_id=job_id,
            state=state,  # type: ignore[arg-type]
            cost_usd=cost,
            media_url=media_url,
            error_code=error_code,
            error_message=error_text,
            metadata=metadata,
        )

    def _official_cost(
        self,
        job_id: str,
        model: OfficialModel,
        data: Mapping[str, Any],
        state: str,
        table: PriceTable,
        metadata: dict[str, Any],
    ) -> float:
        """An official model bills its output seconds, and only a succeeded prediction."""
        sent = self._sent.get(job_id) or _sent_from_input(model, data.get("input"))
        if sent is not None:
            seconds, resolution, basis = float(sent.duration_s), sent.resolution, "as sent"
        else:  # input removed and not sent by this run: never bill below what it cost
            seconds = float(model.durations[-1])
            resolution = max(model.resolutions, key=lambda r: table.per_output_second(model.ref, r))
            basis = "assumed: the input was removed, priced at the longest, highest resolution"
        per_s = table.per_output_second(model.ref, resolution)
        metadata.update(
            output_seconds=seconds,
            resolution=resolution,
            usd_per_output_second=per_s,
            bill_basis=basis,
        )
        return round(seconds * per_s, 6) if state == "succeeded" else 0.0


def sends_token_to(url: str, base_url: str) -> bool:
    """Whether an output file at ``url`` gets the API token: Replicate asks for the
    Authorization header on output files, so it goes to the API's own host and to
    replicate.delivery, and nowhere else."""
    host = urlsplit(url).hostname or ""
    if host == urlsplit(base_url).hostname:
        return True
    return host == "replicate.delivery" or host.endswith(".replicate.delivery")


def _same_model(item: Mapping[str, Any], model: OfficialModel | VersionedModel) -> bool:
    if isinstance(model, OfficialModel):
        return item.get("model") == model.ref
    return item.get("version") == model.version


def _sent_from_input(model: OfficialModel, inputs: Any) -> _Sent | None:
    if not isinstance(inputs, dict) or not isinstance(inputs.get("duration"), int):
        return None
    if model.modes:
        by_mode = {mode: res for res, mode in model.modes.items()}
        resolution = by_mode.get(str(inputs.get("mode")))
    else:
        resolution = inputs.get(model.resolution_field or "resolution")
    if not isinstance(resolution, str):
        return None
    return _Sent(inputs["duration"], resolution)


def _output_url(output: Any) -> str | None:
    """The first file URL of a prediction's output (a URL, a list of them, or an object)."""
    if isinstance(output, str) and output.startswith(("http://", "https://")):
        return output
    if isinstance(output, list):
        return next((u for o in output if (u := _output_url(o))), None)
    if isinstance(output, dict):
        return next((u for o in output.values() if (u := _output_url(o))), None)
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def create_provider(ctx: ProviderContext) -> ReplicateProvider:
    """The ProviderSpec factory: token and base URL from ``ctx.env``."""
    from recoil_replicate.plugin import BASE_URL_ENV, TOKEN_ENV, concurrency

    token = ctx.env.get(TOKEN_ENV, "")
    if not token:
        raise ProviderRejected(f"{TOKEN_ENV} is not set", code="missing_key")
    connections = int(ctx.settings.get("concurrency") or concurrency(ctx.env)) + 4
    client = make_client(transport=transport_name(ctx.env), connections=connections)
    return ReplicateProvider(
        api_token=token,
        client=client,
        base_url=ctx.env.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
        prices=lambda: price_table(ctx.env),
    )


__all__ = [
    "DEFAULT_BASE_URL",
    "FindPolicy",
    "ReplicateProvider",
    "RetryPolicy",
    "create_provider",
    "sends_token_to",
]
