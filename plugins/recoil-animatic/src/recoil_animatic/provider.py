"""The animatic provider: renders previs locally into a cache that outlives the process.

A job id is derived from the request, and the request needed to render it is kept next
to the media (``<cache>/<job id>.json``), so a later process can poll, download or
re-render any job an earlier one submitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cattrs

from recoil_animatic.job import JOB_PREFIX, RenderJob, build_job, file_digest
from recoil_animatic.render import render
from recoil_animatic.settings import CACHE_ENV, DEFAULT_CACHE_MAX_MB, cache_limit_bytes
from recoil_core.api import (
    JobStatus,
    ProviderContext,
    ProviderRejected,
    SubmitRequest,
    TaskNotFound,
)

_JOB_ID = re.compile(re.escape(JOB_PREFIX) + r"[0-9a-f]{24}")
_MEDIA_SUFFIXES = (".mp4", ".png")
_converter = cattrs.Converter()  # job files are this provider's own format


def cache_dir(env: Mapping[str, str]) -> Path:
    """``$RECOIL_ANIMATIC_CACHE``, else ``$XDG_CACHE_HOME/recoil-animatic`` (``~/.cache``)."""
    explicit = env.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recoil-animatic"


def prune_cache(cache: Path, limit_bytes: int) -> list[Path]:
    """Remove the least recently used media from ``cache`` until it holds ``limit_bytes``.

    Only media files go; the small job files stay, so a pruned clip is rendered again
    (byte for byte the same) if a later run polls or downloads its job. Returns what was
    removed. ``limit_bytes`` of 0 keeps everything.
    """
    if limit_bytes <= 0:
        return []
    media: list[tuple[float, int, Path]] = []
    try:
        entries = list(os.scandir(cache))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.endswith(_MEDIA_SUFFIXES) and _JOB_ID.match(entry.name):
            try:
                info = entry.stat()
            except FileNotFoundError:
                continue
            media.append((info.st_mtime, info.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in media)
    removed: list[Path] = []
    for _, size, path in sorted(media, key=lambda item: item[0]):
        if total <= limit_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed.append(path)
    return removed


def _touch(media: Path) -> bool:
    """Mark cached media as used now (the cache removes least recently used clips first);
    False if it is not there."""
    try:
        os.utime(media)
    except FileNotFoundError:
        return False
    return True


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _metadata(job: RenderJob) -> dict[str, Any]:
    counts = job.frame_counts()
    meta: dict[str, Any] = {
        "renderer": "recoil-animatic",
        "renderer_version": job.renderer_version,
        "aspect_ratio": job.geometry.aspect_ratio,
        "resolution": job.geometry.resolution,
        "nominal_size": list(job.geometry.nominal),
        "rendered_size": list(job.geometry.rendered),
        "shot_ids": [card.shot_id for card in job.cards],
        "first_frame_used": job.background is not None,
    }
    if job.kind == "video":
        meta.update(
            codec="h264", fps=job.fps, frames=sum(counts), duration_s=job.duration_s, audio=False
        )
    return meta


class AnimaticProvider:
    """Renders title-card previs for any model: MP4 clips for video steps, PNG keyframes."""

    def __init__(self, cache: Path, *, limit_bytes: int = DEFAULT_CACHE_MAX_MB << 20) -> None:
        self.cache = cache
        self.limit_bytes = limit_bytes
        self._media: dict[str, Path] = {}

    # ------------------------------------------------------------------ files

    def _job_file(self, job_id: str) -> Path:
        return self.cache / f"{job_id}.json"

    def _media_file(self, job: RenderJob) -> Path:
        return self.cache / f"{job.job_id}{job.suffix}"

    def _load(self, job_id: str) -> RenderJob:
        if not _JOB_ID.fullmatch(job_id):
            raise TaskNotFound(f"{job_id!r} is not an animatic job id", code="NotFound")
        path = self._job_file(job_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            job = _converter.structure(data, RenderJob)
        except FileNotFoundError:
            raise TaskNotFound(
                f"animatic job {job_id} is not in the cache {self.cache}; submit the take again",
                code="NotFound",
            ) from None
        except (ValueError, cattrs.BaseValidationError) as exc:
            raise TaskNotFound(
                f"animatic job file {path} is unreadable ({exc}); submit the take again",
                code="NotFound",
            ) from None
        if job.job_id != job_id:
            raise TaskNotFound(
                f"animatic job file {path} was written by another renderer version; "
                "submit the take again",
                code="NotFound",
            )
        return job

    def _ensure(self, job: RenderJob) -> Path:
        """The job's media, rendered now if it is not in the cache yet."""
        media = self._media_file(job)
        if not _touch(media):
            if job.background is not None:
                background = Path(job.background)
                if not background.is_file() or file_digest(background) != job.background_digest:
                    raise ProviderRejected(
                        f"first frame {background} changed or vanished since job "
                        f"{job.job_id} was submitted; submit the take again",
                        code="InputChanged",
                    )
            render(job, media)
        self._media[job.job_id] = media
        return media

    def _submit(self, request: SubmitRequest) -> str:
        job = build_job(request)
        job_file = self._job_file(job.job_id)
        if not job_file.is_file():
            _write_atomic(job_file, json.dumps(_converter.unstructure(job), sort_keys=True))
        self._ensure(job)
        return job.job_id

    def _status(self, job_id: str) -> JobStatus:
        job = self._load(job_id)
        try:
            media = self._ensure(job)
        except ProviderRejected as exc:
            return JobStatus(
                job_id,
                "failed",
                error_code=exc.code,
                error_message=str(exc),
                media_suffix=job.suffix,
            )
        return JobStatus(
            job_id,
            "succeeded",
            cost_usd=0.0,
            media_url=media.as_uri(),
            media_suffix=job.suffix,
            metadata=_metadata(job),
        )

    def _find(self, request: SubmitRequest) -> str | None:
        try:
            job = build_job(request)
        except ProviderRejected:
            return None
        return job.job_id if self._job_file(job.job_id).is_file() else None

    def _download(self, job_id: str, dest: Path) -> None:
        media = self._media.get(job_id)
        if media is None or not media.is_file():
            media = self._ensure(self._load(job_id))
        shutil.copyfile(media, dest)

    # ------------------------------------------------------------------ Provider

    def _cache_error(self, exc: OSError) -> ProviderRejected:
        return ProviderRejected(
            f"the animatic cache {self.cache} is not usable ({exc}); point {CACHE_ENV} "
            "at a writable directory",
            code="CacheUnavailable",
        )

    async def submit(self, request: SubmitRequest) -> str:
        try:
            return await asyncio.to_thread(self._submit, request)
        except OSError as exc:
            raise self._cache_error(exc) from None

    async def poll(self, job_id: str) -> JobStatus:
        return await asyncio.to_thread(self._status, job_id)

    async def find(self, request: SubmitRequest) -> str | None:
        return await asyncio.to_thread(self._find, request)

    async def download(self, status: JobStatus, dest: Path) -> None:
        await asyncio.to_thread(self._download, status.job_id, dest)

    async def cancel(self, job_id: str) -> None:
        """Nothing to cancel: rendering finishes inside ``submit``."""

    async def aclose(self) -> None:
        """Keep the cache within its size limit (least recently used clips go first)."""
        with contextlib.suppress(OSError):  # an untidy cache is no reason to fail a run
            await asyncio.to_thread(prune_cache, self.cache, self.limit_bytes)


def create(ctx: ProviderContext) -> AnimaticProvider:
    """The ProviderSpec factory."""
    try:
        limit = cache_limit_bytes(ctx.env)
    except ValueError as exc:
        raise ProviderRejected(str(exc), code="InvalidSetting") from None
    return AnimaticProvider(cache_dir(ctx.env), limit_bytes=limit)
