"""The take state machine's table: every listed move is applied, every other one is
refused with an error naming the take, its state and the event, and the final states are
exactly the ones nothing leaves."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recoil_core import model
from recoil_core.errors import RecoilError
from recoil_core.model import StepState, Take, TakeState, Workflow, WorkflowStep
from recoil_core.runner import dispatch
from recoil_core.takes import (
    FINAL_STEP_STATES,
    FINAL_TAKE_STATES,
    OWED_STEP_STATES,
    STEP_EVENTS,
    STEP_MOVES,
    TAKE_EVENTS,
    TAKE_MOVES,
    Event,
    IllegalMove,
    Unwritten,
    advance,
    mermaid,
)


def take_in(state: TakeState, step_state: StepState = StepState.PLANNED) -> Take:
    step = WorkflowStep(step_id="video", modality="video_i2v", state=step_state)
    return Take(take_id="B1_take_0", index=0, workflow=Workflow("wf", steps=[step]), state=state)


def step_state_for(take_state: TakeState, event: Event) -> StepState:
    """A step state in which ``event`` is legal for the step (any, for take-only events)."""
    for (state, step_event), _target in STEP_MOVES.items():
        if step_event is event:
            return state
    return StepState.PLANNED


def take_state_for(step_state: StepState, event: Event) -> TakeState:
    for (state, take_event), _target in TAKE_MOVES.items():
        if take_event is event:
            return state
    return TakeState.SUBMITTED


@pytest.mark.parametrize(("state", "event"), sorted(TAKE_MOVES))
def test_every_listed_take_move_is_applied(state: TakeState, event: Event) -> None:
    take = take_in(state, step_state_for(state, event))
    step = take.workflow.steps[0]
    previous = advance(take, event, step if event in STEP_EVENTS else None)
    assert previous is state
    assert take.state is TAKE_MOVES[state, event]


@pytest.mark.parametrize(("state", "event"), sorted(STEP_MOVES))
def test_every_listed_step_move_is_applied(state: StepState, event: Event) -> None:
    take = take_in(take_state_for(state, event), state)
    step = take.workflow.steps[0]
    advance(take, event, step)
    assert step.state is STEP_MOVES[state, event]


ILLEGAL_TAKE_MOVES = [
    (state, event)
    for state, event in itertools.product(TakeState, Event)
    if event in TAKE_EVENTS and (state, event) not in TAKE_MOVES
]


@pytest.mark.parametrize(("state", "event"), ILLEGAL_TAKE_MOVES)
def test_every_other_take_move_is_refused_and_changes_nothing(
    state: TakeState, event: Event
) -> None:
    take = take_in(state, step_state_for(state, event))
    step = take.workflow.steps[0]
    step_before = step.state
    with pytest.raises(IllegalMove) as refused:
        advance(take, event, step)
    assert isinstance(refused.value, RecoilError)
    message = str(refused.value)
    assert take.take_id in message and state.value in message and event.value in message
    assert (refused.value.take_id, refused.value.state, refused.value.event) == (
        take.take_id,
        state,
        event,
    )
    assert take.state is state and step.state is step_before


ILLEGAL_STEP_MOVES = [
    (state, event)
    for state, event in itertools.product(StepState, Event)
    if event in STEP_EVENTS and (state, event) not in STEP_MOVES
]


@pytest.mark.parametrize(("state", "event"), ILLEGAL_STEP_MOVES)
def test_every_other_step_move_is_refused_and_changes_nothing(
    state: StepState, event: Event
) -> None:
    take_state = take_state_for(state, event)
    take = take_in(take_state, state)
    step = take.workflow.steps[0]
    with pytest.raises(IllegalMove, match=f"step video is {state.value}"):
        advance(take, event, step)
    assert take.state is take_state and step.state is state


def test_an_event_that_moves_a_step_needs_the_step() -> None:
    take = take_in(TakeState.RESERVED)
    with pytest.raises(IllegalMove, match="concerns a step"):
        advance(take, Event.SUBMIT)
    assert take.state is TakeState.RESERVED


def test_every_event_moves_something() -> None:
    assert set(Event) == TAKE_EVENTS | STEP_EVENTS


def test_final_states_have_no_outgoing_move_and_match_the_model() -> None:
    assert not {state for state, _event in TAKE_MOVES} & FINAL_TAKE_STATES
    assert not {state for state, _event in STEP_MOVES} & FINAL_STEP_STATES
    assert FINAL_TAKE_STATES == model.FINAL_TAKE_STATES
    assert FINAL_STEP_STATES == model.FINAL_STEP_STATES
    assert {
        TakeState.SUCCEEDED,
        TakeState.FAILED,
        TakeState.FAILED_BUT_BILLED,
        TakeState.BUILD_ERROR,
        TakeState.CANCELLED,
    } == FINAL_TAKE_STATES


def test_owed_states_are_the_sent_unfinished_ones() -> None:
    assert {StepState.SUBMITTING, StepState.SUBMITTED, StepState.UNKNOWN} == OWED_STEP_STATES
    assert dispatch.OWED_STEP_STATES is OWED_STEP_STATES


def test_every_take_state_is_reachable_from_planned() -> None:
    reached = {TakeState.PLANNED}
    frontier = [TakeState.PLANNED]
    while frontier:
        state = frontier.pop()
        for (source, _event), target in TAKE_MOVES.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(TakeState)


def test_a_take_is_submitting_before_it_can_own_a_job() -> None:
    """The persisted-before-side-effect rule in the table: a job id is only ever recorded
    (``accept``) from a state written before the create (``submitting``) or after it was
    lost (``unknown``)."""
    sources = {state for (state, event) in TAKE_MOVES if event is Event.ACCEPT}
    assert sources == {TakeState.SUBMITTING, TakeState.UNKNOWN}
    step_sources = {state for (state, event) in STEP_MOVES if event is Event.SUBMIT}
    assert StepState.SUBMITTED not in step_sources  # a step with a job is never re-sent


def test_the_mermaid_diagram_lists_every_take_move() -> None:
    diagram = mermaid()
    assert diagram.startswith("stateDiagram-v2\n")
    for (source, event), target in TAKE_MOVES.items():
        assert f"    {source.value} --> {target.value}: {event.value}\n" in diagram
    done = subprocess.run(
        [sys.executable, "-m", "recoil_core.takes", "--mermaid"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == diagram


def test_the_architecture_page_shows_the_generated_diagram() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", page, flags=re.DOTALL)
    assert blocks == [mermaid()], "regenerate it: python -m recoil_core.takes --mermaid"


def test_an_unwritten_move_is_put_back_as_it_was_persisted() -> None:
    take = take_in(TakeState.UNKNOWN, StepState.UNKNOWN)
    step = take.workflow.steps[0]
    step.request_key, take.attention = "rk_lost", "search again"
    before = Unwritten(take, step)
    step.request_key, take.attention = "rk_new", None
    advance(take, Event.SUBMIT, step)
    before.restore()
    assert (take.state, step.state) == (TakeState.UNKNOWN, StepState.UNKNOWN)
    assert (step.request_key, take.attention) == ("rk_lost", "search again")
