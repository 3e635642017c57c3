"""The take state machine as data: which event moves a take (and its step) from which state
to which, and :func:`advance`, the one function that changes a take's or a step's state.

Persisted before the side effect
================================
Each state is saved (compare-and-set on the scene's active version) before the side
effect that follows it, so a process killed at any point leaves a state that says what
may have happened:

- ``submitting`` (with the step's fresh request key, seed and time) is persisted before
  the provider's create is called: a take found ``submitting`` may own a job, and it is
  looked up by that key, never sent again blindly.
- ``submitted`` (with the job id) is persisted as soon as the create answers, before the
  job is polled.
- a step is ``succeeded`` only after its render is on disk and its charge is in the
  ledger (one write); a billed failure is charged before the step is ``failed_but_billed``.
- a take becomes ``reserved`` in memory only (waiting for a provider slot has no side
  effect); its first write is ``submitting``.

The rules that keep money safe (a take owns one provider job per step; a lost create is
``unknown`` until the provider is asked) live in :mod:`recoil_core.runner.dispatch` and the
modules it calls; this module only says which moves exist. Run ``python -m
recoil_core.takes --mermaid`` for the diagram in ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Mapping
from typing import TypeVar

import attrs

from recoil_core.errors import RecoilError
from recoil_core.model import Beat, StepState, Take, TakeState, WorkflowStep

__all__ = [
    "FINAL_STEP_STATES",
    "FINAL_TAKE_STATES",
    "OWED_STEP_STATES",
    "STEP_MOVES",
    "TAKE_MOVES",
    "Event",
    "IllegalMove",
    "Unwritten",
    "advance",
    "attempts",
    "mermaid",
    "never_dispatched",
    "nothing_sent",
    "owed_estimate",
    "owes",
]


class Event(enum.StrEnum):
    """What happens to a take; :data:`TAKE_MOVES` and :data:`STEP_MOVES` say where it goes."""

    RESERVE = "reserve"
    """Its workflow was built and its estimate reserved against the budget."""
    BUILD_FAILED = "build_failed"
    """Its workflow could not be built: nothing was reserved or sent."""
    ABANDON = "abandon"
    """Found unfinished by a later run with nothing ever sent: a new take replaces it."""
    SUBMIT = "submit"
    """A step's create is about to be sent (with a fresh request key)."""
    ACCEPT = "accept"
    """The provider has the step's job: the create answered, or a search found it."""
    LOSE = "lose"
    """The create may or may not have reached the provider (or a search could not tell)."""
    UNSEND = "unsend"
    """The provider refused the create before making anything; nothing of the take was paid."""
    UNSEND_KEEP = "unsend_keep"
    """Like ``unsend``, but earlier steps were paid: the take resumes from this step."""
    STEP_SUCCEED = "step_succeed"
    """The step's render is on disk and its charge in the ledger."""
    STEP_FAIL = "step_fail"
    """The step's job failed (or was refused, or is gone) without a bill."""
    STEP_FAIL_BILLED = "step_fail_billed"
    """The step's job failed and the provider billed it."""
    STEP_CANCEL = "step_cancel"
    """The step's job ended cancelled without a bill."""
    SUCCEED = "succeed"
    """Every step succeeded."""
    FAIL = "fail"
    """A step failed without a bill."""
    FAIL_BILLED = "fail_billed"
    """A step failed and was billed."""


_State = TypeVar("_State", TakeState, StepState)


def _moves(
    rows: Iterable[tuple[Iterable[_State], Event, _State]],
) -> dict[tuple[_State, Event], _State]:
    table: dict[tuple[_State, Event], _State] = {}
    for sources, event, target in rows:
        for source in sources:
            table[source, event] = target
    return table


_T = TakeState
_S = StepState
_ACTIVE = (_T.RESERVED, _T.SUBMITTING, _T.SUBMITTED, _T.UNKNOWN)

TAKE_MOVES: Mapping[tuple[TakeState, Event], TakeState] = _moves(
    [
        ((_T.PLANNED,), Event.RESERVE, _T.RESERVED),
        ((_T.PLANNED,), Event.BUILD_FAILED, _T.BUILD_ERROR),
        ((_T.PLANNED, _T.RESERVED), Event.ABANDON, _T.CANCELLED),
        (_ACTIVE, Event.SUBMIT, _T.SUBMITTING),
        ((_T.SUBMITTING, _T.UNKNOWN), Event.ACCEPT, _T.SUBMITTED),
        ((_T.SUBMITTING, _T.UNKNOWN), Event.LOSE, _T.UNKNOWN),
        ((_T.SUBMITTING,), Event.UNSEND, _T.CANCELLED),
        ((_T.SUBMITTING,), Event.UNSEND_KEEP, _T.RESERVED),
        ((_T.RESERVED, _T.SUBMITTED), Event.SUCCEED, _T.SUCCEEDED),
        ((_T.SUBMITTING, _T.SUBMITTED), Event.FAIL, _T.FAILED),
        ((_T.SUBMITTED,), Event.FAIL_BILLED, _T.FAILED_BUT_BILLED),
    ]
)
"""``(take state, event) -> take state``. An event not listed for a state is illegal there."""

STEP_MOVES: Mapping[tuple[StepState, Event], StepState] = _moves(
    [
        ((_S.PLANNED, _S.SUBMITTING, _S.UNKNOWN), Event.SUBMIT, _S.SUBMITTING),
        ((_S.SUBMITTING, _S.UNKNOWN), Event.ACCEPT, _S.SUBMITTED),
        ((_S.SUBMITTING, _S.UNKNOWN), Event.LOSE, _S.UNKNOWN),
        ((_S.SUBMITTING,), Event.UNSEND, _S.PLANNED),
        ((_S.SUBMITTING,), Event.UNSEND_KEEP, _S.PLANNED),
        ((_S.SUBMITTED,), Event.STEP_SUCCEED, _S.SUCCEEDED),
        ((_S.SUBMITTING, _S.SUBMITTED), Event.STEP_FAIL, _S.FAILED),
        ((_S.SUBMITTED,), Event.STEP_FAIL_BILLED, _S.FAILED_BUT_BILLED),
        ((_S.SUBMITTED,), Event.STEP_CANCEL, _S.CANCELLED),
    ]
)
"""``(step state, event) -> step state``: how the step an event concerns moves with it."""

TAKE_EVENTS = frozenset(event for _state, event in TAKE_MOVES)
"""Events that move a take (the others move only one of its steps)."""
STEP_EVENTS = frozenset(event for _state, event in STEP_MOVES)
"""Events that move a step (each concerns one step, passed to :func:`advance`)."""


def _final(
    states: Iterable[_State], moves: Mapping[tuple[_State, Event], _State]
) -> frozenset[_State]:
    sources = {state for state, _event in moves}
    return frozenset(s for s in states if s not in sources)


FINAL_TAKE_STATES: frozenset[TakeState] = _final(TakeState, TAKE_MOVES)
"""Take states no event leaves (``model.FINAL_TAKE_STATES`` must equal this)."""
FINAL_STEP_STATES: frozenset[StepState] = _final(StepState, STEP_MOVES)
"""Step states no event leaves (``model.FINAL_STEP_STATES`` must equal this)."""
OWED_STEP_STATES: frozenset[StepState] = frozenset(
    s for s in StepState if s not in FINAL_STEP_STATES and s is not StepState.PLANNED
)
"""Step states in which the provider may hold (and bill) a job of the take's: sent, and
not final."""


class IllegalMove(RecoilError):
    """An event that the take state machine does not allow in the take's (or step's) state:
    a bug in the kernel, never something a provider's answer can cause."""

    def __init__(
        self, take: Take, event: Event, *, step: WorkflowStep | None = None, why: str = ""
    ) -> None:
        where = f"take {take.take_id} is {take.state.value}"
        if step is not None:
            where += f", its step {step.step_id} is {step.state.value}"
        super().__init__(f"illegal move {event.value!r}: {where}{why}")
        self.take_id = take.take_id
        self.state = take.state
        self.event = event
        self.step_state = step.state if step is not None else None


def advance(take: Take, event: Event, step: WorkflowStep | None = None) -> TakeState:
    """Apply ``event`` to ``take`` (and to ``step``, for events that move a step) and return
    the take's previous state; raise :class:`IllegalMove`, changing nothing, when the table
    has no such move. The caller persists the result before the side effect that follows.
    """
    previous = take.state
    take_target = TAKE_MOVES.get((take.state, event))
    if event in TAKE_EVENTS and take_target is None:
        raise IllegalMove(take, event, step=step)
    if event in STEP_EVENTS:
        if step is None:
            raise IllegalMove(take, event, why=": the event concerns a step and none was given")
        step_target = STEP_MOVES.get((step.state, event))
        if step_target is None:
            raise IllegalMove(take, event, step=step)
        step.state = step_target
    if take_target is not None:
        take.state = take_target
    return previous


class Unwritten:
    """A take and one of its steps as last persisted, kept while a move of them is being
    written: when that write fails, :meth:`restore` puts both back, since on disk the
    move never happened (the only way a state goes back without an event)."""

    def __init__(self, take: Take, step: WorkflowStep) -> None:
        self._take, self._step = take, step
        self._take_fields = attrs.asdict(take, recurse=False)
        self._step_fields = attrs.asdict(step, recurse=False)

    def restore(self) -> None:
        for name, value in self._take_fields.items():
            setattr(self._take, name, value)
        for name, value in self._step_fields.items():
            setattr(self._step, name, value)


# --------------------------------------------------------------------------- queries


def owes(take: Take) -> bool:
    """Whether a provider may still bill this take for a job it has not been charged for."""
    return any(step.state in OWED_STEP_STATES for step in take.workflow.steps)


def owed_estimate(take: Take) -> float:
    """What the take's possibly billable jobs are estimated at (its unfinished steps)."""
    return sum(s.estimate_usd for s in take.workflow.steps if s.state in OWED_STEP_STATES)


def nothing_sent(take: Take) -> bool:
    """Whether no step of the take was ever sent to a provider (all planned or skipped)."""
    return all(s.state in (StepState.PLANNED, StepState.SKIPPED) for s in take.workflow.steps)


def never_dispatched(take: Take) -> bool:
    """A take cancelled before any paid call (an interrupted run): it used no attempt."""
    return take.state == TakeState.CANCELLED and nothing_sent(take)


def attempts(beat: Beat) -> int:
    """Takes that count against ``max_takes``: all but those that never reached a provider."""
    return sum(1 for take in beat.takes if not never_dispatched(take))


# --------------------------------------------------------------------------- diagram


def mermaid() -> str:
    """The take state machine as a Mermaid ``stateDiagram-v2`` block (without fences)."""
    lines = ["stateDiagram-v2", f"    [*] --> {TakeState.PLANNED.value}"]
    for (source, event), target in TAKE_MOVES.items():
        lines.append(f"    {source.value} --> {target.value}: {event.value}")
    lines.extend(f"    {state.value} --> [*]" for state in TakeState if state in FINAL_TAKE_STATES)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--mermaid"]:
        print("usage: python -m recoil_core.takes --mermaid", file=sys.stderr)
        return 2
    sys.stdout.write(mermaid())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
