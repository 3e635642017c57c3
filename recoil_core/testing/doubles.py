"""In-process test doubles for plugin authors and Recoil's own tests.

``make_plugin`` turns plain lists into a plugin object with real hook implementations, so
a test registers strategies, runners, providers or estimators the same way an installed
distribution does (``build_registry(extra=[("name", make_plugin(...))])``).
``ScriptedProvider`` is a provider whose every job ends as the test says.
``ShotPerUnitStrategy`` and ``StandardVideoRunner`` group and build the way the standard
strategies and video runners do, so a provider's tests need no other distribution.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from recoil_core.contracts.gates import PreflightGate
from recoil_core.contracts.grouping import GroupingContext, GroupingStrategy
from recoil_core.contracts.provider import (
    CostEstimator,
    JobStatus,
    ProviderContext,
    ProviderLimits,
    ProviderSpec,
    SubmitRequest,
)
from recoil_core.contracts.runner import BuildContext, ModalityRunner
from recoil_core.errors import PayloadBuildError, ProviderError, ProviderRejected
from recoil_core.hookspecs import hookimpl
from recoil_core.model import (
    Beat,
    CanonicalShot,
    Group,
    GroupIdentity,
    RenderUnit,
    Segment,
    Workflow,
    WorkflowStep,
)

__all__ = [
    "Outcome",
    "ScriptedProvider",
    "ShotPerUnitStrategy",
    "StandardVideoRunner",
    "StaticRunner",
    "StaticStrategy",
    "Without",
    "fixed_estimator",
    "make_plugin",
    "scripted_provider_spec",
]


def make_plugin(
    *,
    strategies: Sequence[GroupingStrategy] = (),
    runners: Sequence[ModalityRunner] = (),
    providers: Sequence[ProviderSpec] = (),
    estimators: Sequence[CostEstimator] = (),
    gates: Sequence[PreflightGate] = (),
    on_take_event: Callable[[Any], None] | None = None,
    on_scene_event: Callable[[Any], None] | None = None,
) -> object:
    """A plugin object implementing only the hooks whose lists/callbacks are given."""
    namespace: dict[str, Any] = {}
    pairs: list[tuple[str, Sequence[Any]]] = [
        ("recoil_grouping_strategies", strategies),
        ("recoil_modality_runners", runners),
        ("recoil_providers", providers),
        ("recoil_cost_estimators", estimators),
        ("recoil_preflight_gates", gates),
    ]
    for hook, items in pairs:
        if items:
            namespace[hook] = hookimpl(lambda items=items: list(items))
    if on_take_event is not None:
        callback = on_take_event
        namespace["recoil_on_take_event"] = hookimpl(lambda event: callback(event))
    if on_scene_event is not None:
        scene_callback = on_scene_event
        namespace["recoil_on_scene_event"] = hookimpl(lambda event: scene_callback(event))
    plugin_type = type("InProcessPlugin", (), {})
    plugin = plugin_type()
    for name, function in namespace.items():
        setattr(plugin, name, function)
    return plugin


@attrs.define
class StaticStrategy:
    """A grouping strategy returning groups computed by ``assemble_fn``."""

    name: str
    assemble_fn: Callable[[Sequence[CanonicalShot], GroupingContext], list[Group]]
    description: str = "test strategy"

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        """What ``assemble_fn`` returns for these shots."""
        return self.assemble_fn(shots, ctx)


@attrs.define
class StaticRunner:
    """A modality runner whose workflow comes from ``build`` (default: one video step)."""

    modality: str
    build: Callable[[Beat, BuildContext], Workflow] | None = None
    description: str = "test runner"
    calls: list[str] = attrs.field(factory=list)

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow:
        """Record the beat id in ``calls``; return ``build(beat, ctx)``, else one ``video``
        step of the beat's modality on the run's video provider (model ``test-model``)."""
        self.calls.append(beat.beat_id)
        if self.build is not None:
            return self.build(beat, ctx)
        return Workflow(
            workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
            steps=[
                WorkflowStep(
                    step_id="video",
                    modality=beat.modality,
                    payload={"shot_ids": beat.shot_ids, "prompt": beat.beat_id},
                    provider=ctx.video_provider,
                    model="test-model",
                )
            ],
            provenance={"grouping": beat.grouping.to_dict() if beat.grouping else None},
        )


@attrs.define
class ShotPerUnitStrategy:
    """A grouping strategy giving every shot its own scene and ``video_i2v`` unit, with the
    ``solo`` identity (ordinal 0) the standard ``solo`` strategy gives it: scene id and
    unit id are the shot id, shots in plan order. It takes no options."""

    name: str = "shot-per-unit"
    modality: str = "video_i2v"
    description: str = "one unit per shot (test strategy)"

    def assemble(self, shots: Sequence[CanonicalShot], ctx: GroupingContext) -> list[Group]:
        """One group of one unit per shot, in plan order."""
        groups = []
        for shot in sorted(shots, key=lambda s: s.order):
            identity = GroupIdentity("solo", 0, (shot.shot_id,))
            segment = Segment(shot.shot_id, shot.duration_s, shot.prompt, shot.shot_type)
            unit = RenderUnit(shot.shot_id, identity, self.modality, (segment,))
            groups.append(Group(shot.shot_id, identity, (unit,)))
        return groups


@attrs.define
class StandardVideoRunner:
    """A modality runner building the standard video workflow from recoil-core alone.

    As the standard video runners do (docs/writing-a-modality-runner.md): when the beat's
    first shot has no ``frames.first_frame`` and the run has an image provider, an
    ``image_t2i`` step ``kf`` renders the opening frame (model ``previs_model`` or
    ``previs``) and feeds the video step's ``first_frame``; then one ``video`` step of the
    beat's modality on the video provider, with the payload keys providers read
    (``prompt``, ``model``, ``duration_s``, ``aspect_ratio``, ``resolution``, ``seed``,
    ``generate_audio``, ``camera_fixed``, ``watermark``, ``grouping``, ``shot_ids``,
    ``segments``, ``first_frame``/``last_frame`` when the plan names them,
    ``provider_hints``, ``element_config``). Renders are named by the kernel from the
    grouping identity. Set ``keyframes=False`` for text to video even with an image provider.
    """

    modality: str = "video_i2v"
    description: str = "standard video workflow (test runner)"
    keyframes: bool = True

    def build_workflow(self, beat: Beat, ctx: BuildContext) -> Workflow:
        """``[kf (image_t2i), video]`` or ``[video]``, as described above."""
        shots = ctx.shots_for(beat)
        if not shots:
            raise PayloadBuildError(beat.beat_id, "the beat covers no shot of the plan")
        first, last = shots[0], shots[-1]
        identity = beat.grouping or GroupIdentity("solo", 0, tuple(beat.shot_ids))
        segments = [_segment_dict(segment, ctx) for segment in _segments(beat, shots)]
        payload: dict[str, Any] = {
            "prompt": _timeline(segments),
            "model": first.video_model,
            "duration_s": float(sum(s["duration_s"] for s in segments)),
            "aspect_ratio": first.aspect_ratio,
            "resolution": first.resolution,
            "seed": first.seed,
            "generate_audio": any(shot.has_dialogue for shot in shots),
            "camera_fixed": False,
            "watermark": False,
            "grouping": identity.to_dict(),
            "shot_ids": list(beat.shot_ids),
            "segments": segments,
            "provider_hints": {},
            "element_config": {},
        }
        if first.frames.get("first_frame"):
            payload["first_frame"] = first.frames["first_frame"]
        if last.frames.get("last_frame"):
            payload["last_frame"] = last.frames["last_frame"]
        steps: list[WorkflowStep] = []
        inputs: dict[str, str] = {}
        if self.keyframes and "first_frame" not in payload and ctx.image_provider is not None:
            model = first.previs_model or "previs"
            opening = [s for s in segments if s["shot_id"] == first.shot_id]
            keyframe = {
                "prompt": opening[0]["prompt"] if opening else first.prompt,
                "model": model,
                "aspect_ratio": first.aspect_ratio,
                "resolution": first.resolution,
                "shot_id": first.shot_id,
                "grouping": identity.to_dict(),
                "segments": opening,
            }
            steps.append(
                WorkflowStep("kf", "image_t2i", keyframe, provider=ctx.image_provider, model=model)
            )
            inputs["first_frame"] = "kf"
        video = WorkflowStep(
            "video",
            beat.modality,
            payload,
            provider=ctx.video_provider,
            model=first.video_model,
            inputs=inputs,
        )
        return Workflow(
            workflow_id=f"{beat.beat_id}_take_{ctx.take_index}",
            steps=[*steps, video],
            provenance={"grouping": identity.to_dict(), "scene_id": ctx.scene_id},
        )


def _segments(beat: Beat, shots: Sequence[CanonicalShot]) -> list[Segment]:
    if beat.segments:
        return list(beat.segments)
    return [Segment(s.shot_id, s.duration_s, s.prompt, s.shot_type) for s in shots]


def _segment_dict(segment: Segment, ctx: BuildContext) -> dict[str, Any]:
    shot = ctx.plan.shot(segment.shot_id) if segment.shot_id is not None else None
    prompt = segment.prompt or (shot.prompt if shot else "")
    if not prompt:
        prompt = f"{segment.shot_type} shot" + (f" at {shot.location_id}" if shot else "")
        if shot and shot.characters:
            prompt += f" with {', '.join(shot.characters)}"
    return {
        "shot_id": segment.shot_id,
        "duration_s": float(segment.duration_s),
        "prompt": prompt,
        "shot_type": segment.shot_type,
        "location_id": shot.location_id if shot else None,
        "characters": list(shot.characters) if shot else [],
    }


def _timeline(segments: Sequence[dict[str, Any]]) -> str:
    """One segment: its prompt. Several: each after its time range, ``[0-2s] ...``."""
    if len(segments) == 1:
        return str(segments[0]["prompt"])
    parts, start = [], 0.0
    for segment in segments:
        end = start + float(segment["duration_s"])
        parts.append(f"[{start:g}-{end:g}s] {segment['prompt']}")
        start = end
    return " ".join(parts)


@attrs.frozen
class Outcome:
    """How a scripted job ends: its final state, what it billed, or an error on submit."""

    state: str = "succeeded"
    cost_usd: float = 0.0
    error_code: str | None = None
    submit_error: ProviderError | None = None
    create_despite_error: bool = False
    """With ``submit_error``: the job was created anyway (an ambiguous create)."""
    media: bytes = b"\x00\x00\x00\x18ftypmp42recoil-test-media"
    polls_until_final: int = 0


class ScriptedProvider:
    """A provider whose jobs end as ``script(request)`` says. Counts every call."""

    def __init__(self, script: Outcome | Callable[[SubmitRequest], Outcome] = Outcome()) -> None:
        self.script = script if callable(script) else (lambda _r, o=script: o)
        self.submits: list[SubmitRequest] = []
        self.jobs: dict[str, tuple[SubmitRequest, Outcome]] = {}
        self.polls: dict[str, int] = {}
        self.cancelled: list[str] = []
        """Jobs a cancel was asked for (whether or not it stopped them)."""
        self.cancel_stops_running = True
        """Whether a cancel stops a job that is not final (False: refused, as Ark does for
        a running task; the job goes on to finish and bill)."""
        self._stopped: set[str] = set()
        self.finds = 0
        self._ids = itertools.count(1)

    @property
    def created(self) -> int:
        """How many jobs were made (a create that raised without making one is not)."""
        return len(self.jobs)

    async def submit(self, request: SubmitRequest) -> str:
        """Record the request in ``submits``; make job ``job-<n>`` unless the script's
        ``submit_error`` says otherwise (with ``create_despite_error`` the job is made and
        the error raised anyway, as a create whose response was lost)."""
        self.submits.append(request)
        outcome = self.script(request)
        if outcome.submit_error is not None and not outcome.create_despite_error:
            raise outcome.submit_error
        job_id = f"job-{next(self._ids)}"
        self.jobs[job_id] = (request, outcome)
        if outcome.submit_error is not None:
            raise outcome.submit_error
        return job_id

    async def poll(self, job_id: str) -> JobStatus:
        """``running`` for the first ``polls_until_final`` polls, then the script's final
        state and cost (``cancelled`` once a cancel stopped it)."""
        request, outcome = self.jobs[job_id]
        if job_id in self._stopped:
            return JobStatus(job_id=job_id, state="cancelled")
        count = self.polls.get(job_id, 0) + 1
        self.polls[job_id] = count
        if count <= outcome.polls_until_final:
            return JobStatus(job_id=job_id, state="running")
        return JobStatus(
            job_id=job_id,
            state=outcome.state,  # type: ignore[arg-type]
            cost_usd=outcome.cost_usd,
            error_code=outcome.error_code,
            error_message=outcome.error_code,
            media_suffix=".png" if request.modality == "image_t2i" else ".mp4",
        )

    async def find(self, request: SubmitRequest) -> str | None:
        """The job made with the request's identity (its request key, else its seed)."""
        self.finds += 1
        for job_id, (made, _outcome) in self.jobs.items():
            if request.request_key and made.request_key == request.request_key:
                return job_id
            if not request.request_key and (made.take_id, made.step_id, made.seed) == (
                request.take_id,
                request.step_id,
                request.seed,
            ):
                return job_id
        return None

    async def download(self, status: JobStatus, dest: Path) -> None:
        """Write the script's ``media`` bytes, followed by the job id, to ``dest``."""
        _request, outcome = self.jobs[status.job_id]
        dest.write_bytes(outcome.media + status.job_id.encode())

    async def cancel(self, job_id: str) -> None:
        """Record the cancel in ``cancelled``; stop a job that is not final yet, or raise
        ``ProviderRejected`` when ``cancel_stops_running`` is false."""
        self.cancelled.append(job_id)
        if not self.cancel_stops_running:
            raise ProviderRejected(f"job {job_id} is running and cannot be cancelled")
        _request, outcome = self.jobs[job_id]
        if self.polls.get(job_id, 0) < outcome.polls_until_final:
            self._stopped.add(job_id)

    async def aclose(self) -> None:
        """Nothing to release."""
        return None


def scripted_provider_spec(
    provider: ScriptedProvider,
    *,
    name: str = "scripted",
    modalities: Sequence[str] = ("video_i2v", "r2v_multi", "image_t2i", "video_t2v"),
    concurrency: int = 100,
    can_find_by_request: bool = True,
    check: Callable[[ProviderContext], list[str]] | None = None,
    download_in_slot: bool = True,
    cancellable_states: Sequence[str] = (),
    find_consistency_s: float = 0.0,
    find_window_s: float | None = None,
) -> ProviderSpec:
    """A ProviderSpec whose factory always hands out ``provider`` (so tests can inspect it).
    Like any provider, it declares no job cancellable unless told."""
    return ProviderSpec(
        name=name,
        modalities=frozenset(modalities),
        factory=lambda _ctx: provider,
        limits=ProviderLimits(
            concurrency=concurrency, poll_interval_s=0.0, download_in_slot=download_in_slot
        ),
        can_find_by_request=can_find_by_request,
        cancellable_states=frozenset(cancellable_states),
        find_consistency_s=find_consistency_s,
        find_window_s=find_window_s,
        check=check,
        description="scripted test provider",
    )


def fixed_estimator(provider: str, amount: float) -> CostEstimator:
    """An estimator pricing every step of ``provider`` at ``amount`` USD."""
    return CostEstimator(provider=provider, estimate=lambda _step: amount)


class Without:
    """``backend`` without the optional methods ``names``: every other attribute is the
    backend's own. Tests the kernel's paths for a backend that lacks an optional feature
    (a status index, decoded status documents...) against a real one."""

    def __init__(self, backend: Any, *names: str) -> None:
        self._backend = backend
        self._hidden = frozenset(names)

    def __getattr__(self, name: str) -> Any:
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(self._backend, name)
