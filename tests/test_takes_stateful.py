"""The take state machine driven by hypothesis: real runs (real registry, filesystem
backend, episode runner) against a provider whose every answer is drawn at random, and
runs killed at a random provider call and resumed by a fresh harness over the same store.

Whatever happens, a take identity never makes the provider create two jobs, the ledger is
what the provider billed (once nothing is owed), spend stays within the cap, and every
state change observers saw is a move of the table in :mod:`recoil_core.takes`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter, deque
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from recoil_core.errors import (
    BudgetExhaustedError,
    ModerationBlocked,
    ProviderUnavailable,
    RateLimited,
)
from recoil_core.interfaces import JobStatus, SubmitRequest, TakeEvent
from recoil_core.model import TakeState
from recoil_core.takes import TAKE_MOVES, owes
from recoil_core.testing.doubles import Outcome, ScriptedProvider, make_plugin
from recoil_core.testing.harness import RunHarness
from recoil_core.testing.plans import canonical_plan, canonical_shot

PROJECT = "p"
EPISODES = ("EP001", "EP002", "EP003")
"""Each run renders one of them: a settled episode has nothing left to do, so later rules
still find work in another (or resume one a kill left unfinished)."""
ESTIMATE, CAP = 1.0, 1.5
"""A billed failure and a success cost more than the cap together: the guard must stop it."""
PLANS = {
    episode: canonical_plan(
        [canonical_shot(f"{episode}_SH01"), canonical_shot(f"{episode}_SH02", scene_index=2)],
        project=PROJECT,
        episode=episode,
    )
    for episode in EPISODES
}

ANSWERS: dict[str, Outcome] = {
    "success": Outcome(cost_usd=ESTIMATE),
    "cheap success": Outcome(cost_usd=0.5, polls_until_final=1),
    "failure": Outcome(state="failed", error_code="internal"),
    "billed failure": Outcome(state="failed", cost_usd=0.75, error_code="output_rejected"),
    "moderation": Outcome(submit_error=ModerationBlocked("input moderation", code="moderated")),
    "5xx, nothing made": Outcome(submit_error=ProviderUnavailable("502", code="bad_gateway")),
    "429": Outcome(submit_error=RateLimited("slow down", code="rate_limited")),
    "timeout, job made": Outcome(
        cost_usd=ESTIMATE,
        submit_error=ProviderUnavailable("read timeout", code="timeout"),
        create_despite_error=True,
    ),
}
MOVES = {(source, target) for (source, _event), target in TAKE_MOVES.items()}


class Killed(BaseException):
    """The process running the run died: nothing after it reaches the provider."""


class ChaosProvider(ScriptedProvider):
    """A scripted provider whose next answers come from a queue (then: success), which can
    die at its n-th call of a run, before or after the call's effect."""

    def __init__(self) -> None:
        super().__init__(self._next)
        self.answers: deque[Outcome] = deque()
        self.failing_finds = 0
        self.kill_at: int | None = None
        self.kill_after_effect = False
        self.calls = 0
        self.dead = False
        self.episode = ""
        self.made: list[tuple[str, str, str]] = []
        """(episode, take id, step id) of every job made: a take's identity is per episode."""

    def _next(self, _request: SubmitRequest) -> Outcome:
        return self.answers.popleft() if self.answers else ANSWERS["success"]

    def new_process(self, episode: str, kill_at: int | None, after_effect: bool) -> None:
        self.episode = episode
        self.kill_at, self.kill_after_effect = kill_at, after_effect
        self.calls, self.dead = 0, False

    def _enter(self) -> bool:
        """Count a call; die before it, or return whether to die after its effect."""
        if self.dead:
            raise Killed
        self.calls += 1
        if self.calls != self.kill_at:
            return False
        if not self.kill_after_effect:
            self.dead = True
            raise Killed
        return True

    def _after(self, die: bool) -> None:
        if die:
            self.dead = True
            raise Killed

    async def submit(self, request: SubmitRequest) -> str:
        die = self._enter()
        jobs = len(self.jobs)
        try:
            return await super().submit(request)
        finally:
            if len(self.jobs) > jobs:
                self.made.append((self.episode, request.take_id, request.step_id))
            self._after(die)

    async def poll(self, job_id: str) -> JobStatus:
        die = self._enter()
        status = await super().poll(job_id)
        self._after(die)
        return status

    async def find(self, request: SubmitRequest) -> str | None:
        die = self._enter()
        if self.failing_finds:
            self.failing_finds -= 1
            raise ProviderUnavailable("search failed", code="search_failed")
        found = await super().find(request)
        self._after(die)
        return found

    async def download(self, status: JobStatus, dest: Path) -> None:
        die = self._enter()
        await super().download(status, dest)
        self._after(die)

    def billed(self) -> dict[str, float]:
        """What each job made bills once it ends (the provider bills whether or not anyone
        polls it)."""
        return {job_id: outcome.cost_usd for job_id, (_r, outcome) in self.jobs.items()}


class TakeRuns(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="recoil-takes-stateful-"))
        self.provider = ChaosProvider()
        self.seen: list[tuple[tuple[str, str], TakeState, TakeState]] = []
        """((episode, take id), previous state, new state) of every change observers saw."""
        self.harness = self._harness()

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _harness(self) -> RunHarness:
        """A fresh process: its own registry and backend over the same store and provider."""
        observer = make_plugin(on_take_event=self._saw)
        return RunHarness(
            self.root,
            provider=self.provider,
            estimate=ESTIMATE,
            extra_plugins=[("state-observer", observer)],
        )

    def _saw(self, event: TakeEvent) -> None:
        previous = TakeState(event.previous_state)
        self.seen.append(((event.episode, event.take.take_id), previous, event.take.state))

    def _run(
        self, episode: str, answers: list[str], kill_at: int | None, after_effect: bool
    ) -> None:
        self.provider.answers.extend(ANSWERS[name] for name in answers)
        self.provider.new_process(episode, kill_at, after_effect)
        self.harness = self._harness()
        # a killed run is resumed by the next one; a halted one stops starting takes
        with contextlib.suppress(Killed, BudgetExhaustedError):
            self.harness.run(PLANS[episode], budget_usd=CAP, max_takes=3)

    @initialize()
    def nothing_yet(self) -> None:
        assert not self.harness.files()

    @rule(
        episode=st.sampled_from(EPISODES),
        answers=st.lists(st.sampled_from(sorted(ANSWERS)), max_size=4),
    )
    def run(self, episode: str, answers: list[str]) -> None:
        self._run(episode, answers, None, False)

    @rule(
        episode=st.sampled_from(EPISODES),
        answers=st.lists(st.sampled_from(sorted(ANSWERS)), max_size=4),
        kill_at=st.integers(min_value=1, max_value=6),
        after_effect=st.booleans(),
    )
    def killed_run(
        self, episode: str, answers: list[str], kill_at: int, after_effect: bool
    ) -> None:
        self._run(episode, answers, kill_at, after_effect)

    @rule(count=st.integers(min_value=1, max_value=2))
    def searches_fail(self, count: int) -> None:
        self.provider.failing_finds = count

    # ------------------------------------------------------------------ invariants

    def _takes(self, episode: str | None = None) -> list[Any]:
        backend = self.harness.new_backend()
        takes = []
        for ep in [episode] if episode else EPISODES:
            for scene_id in backend.list_scenes(PROJECT, ep):
                for beat in backend.load_scene(PROJECT, ep, scene_id).beats:
                    takes.extend(beat.takes)
        return takes

    def _ledger(self, episode: str | None = None) -> list[Any]:
        backend = self.harness.new_backend()
        episodes = [episode] if episode else EPISODES
        return [entry for ep in episodes for entry in backend.read_ledger(PROJECT, ep)]

    @invariant()
    def at_most_one_job_per_take_step(self) -> None:
        made = Counter(self.provider.made)
        assert all(count == 1 for count in made.values()), made

    @invariant()
    def ledger_is_what_the_provider_billed(self) -> None:
        billed = self.provider.billed()
        ledger = self._ledger()
        charged = Counter(entry.job_id for entry in ledger)
        assert all(count == 1 for count in charged.values()), charged
        for entry in ledger:
            assert entry.amount_usd == billed[entry.job_id]
        if not any(owes(take) for take in self._takes()):
            assert {e.job_id: e.amount_usd for e in ledger} == {
                job: cost for job, cost in billed.items() if cost
            }

    @invariant()
    def spend_stays_within_the_cap(self) -> None:
        for episode in EPISODES:
            assert sum(entry.amount_usd for entry in self._ledger(episode)) <= CAP

    @invariant()
    def every_state_change_is_a_move_of_the_table(self) -> None:
        for take_id, previous, state in self.seen:
            assert (previous, state) in MOVES, (take_id, previous, state)
        for take in self._takes():
            assert not (take.is_final and owes(take)), take

    @invariant()
    def every_persisted_take_state_was_reached_by_moves_from_planned(self) -> None:
        paths: dict[tuple[str, str], list[TakeState]] = {}
        for take_id, previous, state in self.seen:
            if previous is TakeState.PLANNED:  # a take never written before starts anew
                paths[take_id] = [previous]
            path = paths.setdefault(take_id, [previous])
            assert path[0] is TakeState.PLANNED and path[-1] is previous, (take_id, path)
            path.append(state)
        for episode in EPISODES:
            for take in self._takes(episode):
                path = paths[episode, take.take_id]
                assert path[-1] is take.state, (episode, take.take_id, path)


TakeRuns.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_take_runs = TakeRuns.TestCase
