"""Render nodes: an episode handed to an executor plugin, and one take run by a node.

:func:`prepare` (``recoil run --executor NAME``) derives and reconciles the episode under its
lock, writes new scenes, checks preflight and lists the take each unfinished beat starts
or resumes; :func:`run_take` (``recoil worker``) runs one of them through the same take
state machine as an in-process run, on the backend the executor gives it (one whose writes
are fenced by the node's lease). Queues, leases and workers belong to the executor plugin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, cast

import attrs

from recoil_core.budget import ZERO, BudgetGuard, Reservation, usd
from recoil_core.errors import BudgetExhaustedError
from recoil_core.model import (
    ApprovedReference,
    Asset,
    Beat,
    CanonicalPlan,
    StepState,
    Take,
    WorkflowStep,
    take_id_for,
)
from recoil_core.plan import parse_plan
from recoil_core.registry import Registry
from recoil_core.runner.accounting import Accountant
from recoil_core.runner.dispatch import SceneSession, attempts
from recoil_core.runner.episode import EpisodeRunner, RunOptions, RunReport
from recoil_core.runner.finishing import StaleParts
from recoil_core.runner.polling import seconds_since
from recoil_core.runner.providers import ProviderPool
from recoil_core.runner.reconcile import reconcile

__all__ = [
    "EpisodeProgress",
    "NodeRun",
    "NodeTakeRunner",
    "PollLater",
    "SharedBudgetGuard",
    "TakeBudget",
    "TakeJob",
    "TakeOutcome",
    "episode_progress",
    "next_job",
    "prepare",
    "run_take",
    "take_runner",
]


class TakeBudget(Protocol):
    """The cap the nodes share, as one take's node sees it (its backend's
    ``take_budget``): amounts are exact decimals; a charge reaches it with the ledger row."""

    def reserve(self, amount: Decimal) -> bool:
        """Add to the take's hold if it fits the cap; False (nothing changed) if not."""

    def hold(self, amount: Decimal) -> None:
        """Make the take's hold at least ``amount`` (no cap check: money already owed)."""

    def release(self) -> None:
        """Free what is left of the take's hold."""

    def within_cap(self) -> bool: ...

    def remaining(self) -> float: ...


class SharedBudgetGuard(BudgetGuard):
    """A budget guard for one take on a node: the cap is the one all nodes share (every
    reservation is checked and recorded by ``budget``); this object keeps the take's own
    reservation, charges and learned overrun as :class:`BudgetGuard` does."""

    def __init__(self, cap: float | None, budget: TakeBudget) -> None:
        super().__init__(None)
        self.cap = cap
        self._budget = budget

    @property
    def remaining(self) -> float:
        return self._budget.remaining()

    def _shared(self, amount: float) -> Decimal:
        needed = max(ZERO, usd(amount)) * usd(self.overrun)
        if not self._budget.reserve(needed):
            raise BudgetExhaustedError(remaining=max(0.0, self._budget.remaining()))
        return needed

    def reserve(self, amount: float) -> Reservation:
        self._shared(amount)
        return super().reserve(amount)

    def extend(self, reservation: Reservation, amount: float, *, step: str) -> None:
        self._shared(amount)
        super().extend(reservation, amount, step=step)

    def hold(self, amount: float, *, steps: set[str] | None = None) -> Reservation:
        held = super().hold(amount, steps=steps)
        self._budget.hold(held.amount)
        return held

    def check_within_cap(self) -> None:
        if not self._budget.within_cap():
            raise BudgetExhaustedError(remaining=max(0.0, self._budget.remaining()))

    def release(self, reservation: Reservation) -> None:
        super().release(reservation)
        self._budget.release()


CREATE_HELD_RETRY_S = 1.0
"""How soon a take whose create another live node holds is tried again."""


class PollLater(Exception):
    """Raised instead of sleeping between two polls of a job (``defer_polls``): the take
    is saved as ``submitted`` with its job id, so the node lets go of it and a later job
    polls again, holding no worker slot meanwhile."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"poll again in {seconds:g}s")
        self.seconds = seconds


async def _poll_later(seconds: float) -> None:
    raise PollLater(seconds)


def _poll_sleep(slot_s: float) -> Callable[[float], Awaitable[None]]:
    """Sleep between polls in the worker slot while the take's waits add up to no more
    than ``slot_s`` seconds (a provider that answers fast is polled in place: no job,
    claim and load per poll); after that, let go of the take (:class:`PollLater`)."""
    waited = 0.0

    async def sleep(seconds: float) -> None:
        nonlocal waited
        if waited + seconds > slot_s:
            raise PollLater(seconds)
        waited += seconds
        await asyncio.sleep(seconds)

    return sleep


@attrs.frozen
class TakeOutcome:
    """What a node does after a take job: queue ``next`` (the beat's next take, or the same
    take again ``after_s`` seconds later when its job is still running), or nothing."""

    next: TakeJob | None = None
    after_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": None if self.next is None else self.next.to_dict(),
            "after_s": self.after_s,
        }


@attrs.frozen
class TakeJob:
    """One take for a node to start or resume (its id names the job: queued once)."""

    project: str
    episode: str
    scene_id: str
    beat_id: str
    take_id: str

    def to_dict(self) -> dict[str, str]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TakeJob:
        return cls(**{f.name: str(data[f.name]) for f in attrs.fields(cls)})


@attrs.frozen
class NodeRun:
    """What every node needs to run an episode's takes: the plan as read, the options, and
    each asset's references as the run that queued the takes bound them."""

    plan_data: Any
    source: str
    base_dir: str
    options: RunOptions
    references: Mapping[str, Any] = attrs.field(factory=dict)
    """Per asset id: the references a plugin supplied and the approved sheet, as bound when
    the takes were queued (``recoil run`` binds them before it derives the scenes, so the
    nodes build every clip from what the scenes were derived with)."""

    @classmethod
    def read(cls, path: str | Path, options: RunOptions, assets: Sequence[Asset] = ()) -> NodeRun:
        """The plan file at ``path``; ``assets``: the plan's assets as bound for the run
        (:func:`recoil_core.runner.assets.bind_assets`)."""
        plan_path = Path(path).absolute()
        data = json.loads(plan_path.read_text(encoding="utf-8"))
        return cls(data, str(plan_path), str(plan_path.parent), options, _references(assets))

    def plan(self) -> CanonicalPlan:
        plan = parse_plan(self.plan_data, source=self.source, base_dir=Path(self.base_dir))
        if not self.references:
            return plan
        return attrs.evolve(
            plan, assets=tuple(_rebound(a, self.references.get(a.asset_id)) for a in plan.assets)
        )

    def to_dict(self) -> dict[str, Any]:
        options = attrs.asdict(self.options)
        options["strategy_options"] = dict(self.options.strategy_options)
        options["selected_pass_ids"] = list(self.options.selected_pass_ids)
        return {
            "plan": self.plan_data,
            "source": self.source,
            "base_dir": self.base_dir,
            "options": options,
            "references": dict(self.references),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeRun:
        options = dict(data["options"])
        options["selected_pass_ids"] = tuple(options.get("selected_pass_ids") or ())
        plan, source, base_dir = data["plan"], data["source"], data["base_dir"]
        return cls(plan, source, base_dir, RunOptions(**options), data.get("references") or {})


def _references(assets: Sequence[Asset]) -> dict[str, Any]:
    """What binding added to each asset (plugin-supplied images, the approved sheet), as
    JSON data."""
    out: dict[str, Any] = {}
    for asset in assets:
        if asset.supplied_by is None and asset.approved is None:
            continue
        out[asset.asset_id] = {
            "reference_images": list(asset.reference_images) if asset.supplied_by else None,
            "supplied_by": asset.supplied_by,
            "approved": None if asset.approved is None else attrs.asdict(asset.approved),
        }
    return out


def _rebound(asset: Asset, found: Mapping[str, Any] | None) -> Asset:
    """``asset`` (as the plan declares it) with what :func:`_references` kept of it."""
    if not found:
        return asset
    approved = found.get("approved")
    images = found.get("reference_images")
    return attrs.evolve(
        asset,
        reference_images=asset.reference_images if images is None else tuple(images),
        supplied_by=found.get("supplied_by"),
        approved=None if approved is None else ApprovedReference(**approved),
    )


def next_job(project: str, episode: str, scene_id: str, version: int, beat: Beat) -> TakeJob | None:
    """The take the beat resumes (its first unfinished one) or starts next; None when it is
    rendered or out of attempts."""
    unfinished = [take for take in beat.takes if not take.is_final]
    if unfinished:
        take_id = unfinished[0].take_id
    elif beat.succeeded or attempts(beat) >= beat.max_takes:
        return None
    else:
        take_id = take_id_for(beat.beat_id, len(beat.takes), version)
    return TakeJob(project, episode, scene_id, beat.beat_id, take_id)


async def prepare(runner: EpisodeRunner) -> tuple[RunReport, list[TakeJob]]:
    """Reconcile the episode (new scenes are written now, so nodes find them), check
    preflight, and list one job per beat that has work; nothing is reserved or sent."""
    report = runner._report(strategy=runner.options.strategy, dry_run=False)
    derived = runner.derive()
    pool = runner._pool()
    backend = runner.backend
    try:
        with runner._lock():
            stored = set(backend.list_scenes(runner.project, runner.episode))
            reconciled = [
                reconcile(
                    backend,
                    runner.project,
                    runner.episode,
                    scene,
                    max_takes=runner.options.max_takes,
                    stored=stored,
                )
                for scene in derived
            ]
            for item in reconciled:
                runner._announce(item, report)
            runner.preflight(pool, [r.scene for r in reconciled])
    finally:
        await pool.aclose()
    jobs: list[TakeJob] = []
    for item in reconciled:
        version = item.version or 1
        for beat in item.scene.beats:
            if not item.dispatch_new_takes and all(t.is_final for t in beat.takes):
                continue  # a staged candidate waits for a conform
            job = next_job(runner.project, runner.episode, item.scene.scene_id, version, beat)
            if job is not None:
                jobs.append(job)
    return report, jobs


async def run_take(
    runner: EpisodeRunner,
    job: TakeJob,
    pool: ProviderPool | None = None,
    *,
    defer_polls: bool = False,
    resend_after_s: float | None = None,
    slot_polls_s: float = 0.0,
    downloaded: Callable[[Path], None] | None = None,
    stale_parts: dict[str, StaleParts] | None = None,
) -> TakeOutcome:
    """Start or resume ``job``'s take on ``runner``'s backend, as an in-process run would
    (reservation, ``submitting``, create, poll, download, charge); the outcome names the
    beat's next job when it needs another take. A job whose take is already final, or that
    no longer fits the beat (its scene moved on), runs nothing. ``pool``: the node's
    providers, shared by the takes it works (else the runner's own, closed at the end).
    ``defer_polls``: instead of sleeping between two polls of a running job, stop and
    return the same job, to run again after the poll interval, once the take has waited
    ``slot_polls_s`` seconds in its slot (polls of a job that ends soon stay in the slot:
    a job of their own costs a claim, a load and a queue round each). ``resend_after_s``: a lost
    create another node may still be sending (written ``submitting`` less than this long
    ago) is searched for but never sent again yet; the same job comes back when it is that
    old (a node frozen between its ``submitting`` write and its create must not find its
    create made twice when it wakes). ``downloaded``: called with the ``.part`` file a
    job's output was just written to, before it is placed (a test's crash point).
    ``stale_parts``: the node's listings of killed downloads, per renders folder, so a
    folder is listed once per node, not once per take."""
    backend = runner.backend
    found = backend.load_active(job.project, job.episode, job.scene_id)
    if found is None:
        return TakeOutcome()
    scene, version = found
    beat = next((b for b in scene.beats if b.beat_id == job.beat_id), None)
    if beat is None:
        return TakeOutcome()
    session = SceneSession(scene, version)
    take = next((t for t in beat.takes if t.take_id == job.take_id), None)
    if take is None and next_job(job.project, job.episode, job.scene_id, version, beat) != job:
        return TakeOutcome()
    if take is not None and take.is_final:
        return TakeOutcome(next_job(job.project, job.episode, job.scene_id, version, beat))
    budget: TakeBudget | None = getattr(backend, "take_budget", None)
    if budget is not None:  # the cap is shared by every node
        runner.guard = SharedBudgetGuard(runner.options.budget_usd, budget)
        runner.accountant = Accountant(backend, runner.guard, job.project, job.episode)
    else:
        runner.guard.recount_spent(runner._ledger_spend())
    retry_in = _resend_wait(take, resend_after_s) if take is not None else None
    if retry_in is not None and runner.options.auto_resubmit:
        runner.options = attrs.evolve(runner.options, auto_resubmit=False)
    own = pool is None
    providers = runner._pool() if pool is None else pool
    executor = runner._executor(
        providers if downloaded is None else cast(ProviderPool, _Watched(providers, downloaded))
    )
    if stale_parts is not None:
        folder = str(executor.finisher.options.renders_dir)
        executor.finisher.stale_parts = stale_parts.setdefault(folder, StaleParts())
    if defer_polls:
        executor.poller.sleep = _poll_sleep(slot_polls_s) if slot_polls_s > 0 else _poll_later
    try:
        if take is None:
            await executor.new_take(session, beat)
        else:
            await executor.resume_take(session, beat, take)
    except BudgetExhaustedError:
        return TakeOutcome()  # the cap is reached: the beat waits for a bigger budget
    except PollLater as later:
        return TakeOutcome(job, later.seconds)
    finally:
        executor.close()
        if own:
            await providers.aclose()
    if executor.submitter.busy:  # another live node holds its create: ask again later
        return TakeOutcome(job, retry_in or CREATE_HELD_RETRY_S)
    if retry_in is not None and take is not None and _lost_steps(take):
        return TakeOutcome(job, retry_in)  # searched, not found: it may be sent again then
    return TakeOutcome(next_job(job.project, job.episode, job.scene_id, version, beat))


class _Watched:
    """A provider pool whose providers call ``downloaded(dest)`` after each download."""

    def __init__(self, pool: ProviderPool, downloaded: Callable[[Path], None]) -> None:
        self._pool = pool
        self._downloaded = downloaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def get(self, name: str) -> Any:
        return _WatchedProvider(self._pool.get(name), self._downloaded)


class _WatchedProvider:
    def __init__(self, provider: Any, downloaded: Callable[[Path], None]) -> None:
        self._provider = provider
        self._downloaded = downloaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    async def download(self, status: Any, dest: Path) -> None:
        await self._provider.download(status, dest)
        self._downloaded(dest)


def _lost_steps(take: Take) -> list[WorkflowStep]:
    return [s for s in take.workflow.steps if s.state in (StepState.SUBMITTING, StepState.UNKNOWN)]


def _resend_wait(take: Take, resend_after_s: float | None) -> float | None:
    """Seconds until the take's youngest lost create may be sent again (None: now)."""
    if resend_after_s is None:
        return None
    ages = [seconds_since(s.submitting_at) for s in _lost_steps(take)]
    young = [age for age in ages if age is not None and age < resend_after_s]
    return resend_after_s - min(young) if young else None


_KEYS_KEPT = 64
"""Stored runs whose cache key a :class:`NodeTakeRunner` keeps (runs saved again drop out)."""


class NodeTakeRunner:
    """What an executor plugin's worker calls for each job: ``await runner(job, node run,
    backend, defer_polls=...)`` runs :func:`run_take` on that backend and returns
    :meth:`TakeOutcome.to_dict` (``{"job": next job or None, "after_s": delay or None}``);
    ``await runner.aclose()`` when the node stops closes its providers."""

    def __init__(self, registry: Registry, env: Mapping[str, str]) -> None:
        self.registry = registry
        self.env = dict(env)
        self._plans: dict[str, CanonicalPlan] = {}
        self._pools: dict[str, ProviderPool] = {}
        self._stale_parts: dict[str, StaleParts] = {}
        self._keys: dict[int, tuple[Mapping[str, Any], str]] = {}
        """The cache key of each stored run this runner was handed, by identity: a worker
        hands the same object for every job of a run until the run is saved again, and
        serialising a large plan for every job would cost more than the job's own work."""

    async def __call__(
        self,
        job: Mapping[str, str],
        stored: Mapping[str, Any],
        backend: Any,
        *,
        defer_polls: bool = False,
        resend_after_s: float | None = None,
        slot_polls_s: float = 0.0,
        downloaded: Callable[[Path], None] | None = None,
    ) -> dict[str, Any]:
        node_run = NodeRun.from_dict(stored)
        key = self._key(stored)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = node_run.plan()
        runner = EpisodeRunner(
            plan, registry=self.registry, backend=backend, options=node_run.options, env=self.env
        )
        pool = self._pools.get(key)
        if pool is None:  # providers (and their HTTP clients) live as long as the node
            pool = self._pools[key] = runner._pool()
        outcome = await run_take(
            runner,
            TakeJob.from_dict(job),
            pool,
            defer_polls=defer_polls,
            resend_after_s=resend_after_s,
            slot_polls_s=slot_polls_s,
            downloaded=downloaded,
            stale_parts=self._stale_parts,
        )
        return outcome.to_dict()

    def _key(self, stored: Mapping[str, Any]) -> str:
        kept = self._keys.get(id(stored))
        if kept is not None and kept[0] is stored:  # held here, so its id is not reused
            return kept[1]
        key = json.dumps(stored, sort_keys=True)
        if len(self._keys) >= _KEYS_KEPT:
            self._keys.clear()
        self._keys[id(stored)] = (stored, key)
        return key

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.aclose()


def take_runner(registry: Registry, env: Mapping[str, str]) -> NodeTakeRunner:
    """The take runner an executor plugin's worker calls (see :class:`NodeTakeRunner`)."""
    return NodeTakeRunner(registry, env)


@attrs.frozen
class EpisodeProgress:
    """Takes per state and beats rendered, as stored (what nodes have done so far)."""

    takes: Mapping[str, int]
    beats_rendered: int
    beats: int

    def line(self) -> str:
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.takes.items()))
        return f"{self.beats_rendered}/{self.beats} beat(s) rendered; takes: {states or 'none'}"


def episode_progress(backend: Any, project: str, episode: str) -> EpisodeProgress:
    counts: dict[str, int] = {}
    rendered = total = 0
    for scene_id in backend.list_scenes(project, episode):
        found = backend.load_active(project, episode, scene_id)
        if found is None:
            continue
        for beat in found[0].beats:
            total += 1
            rendered += beat.succeeded
            for take in beat.takes:
                counts[take.state.value] = counts.get(take.state.value, 0) + 1
    return EpisodeProgress(counts, rendered, total)
