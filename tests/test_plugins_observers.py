"""Observer hooks: recoil_on_take_event and recoil_on_scene_event reach every observer."""

from __future__ import annotations

from typing import Any

from recoil_core import hookimpl
from recoil_core.interfaces import SceneEvent, TakeEvent
from recoil_core.model import Take, TakeState, Workflow
from recoil_core.registry import build_registry


class Recorder:
    def __init__(self) -> None:
        self.takes: list[TakeEvent] = []
        self.scenes: list[SceneEvent] = []

    @hookimpl
    def recoil_on_take_event(self, event: TakeEvent) -> None:
        self.takes.append(event)

    @hookimpl
    def recoil_on_scene_event(self, event: SceneEvent) -> None:
        self.scenes.append(event)


class Exploding:
    @hookimpl
    def recoil_on_take_event(self, event: Any) -> None:
        raise RuntimeError("observer bug")

    @hookimpl
    def recoil_on_scene_event(self, event: Any) -> None:
        raise RuntimeError("observer bug")


def take_event() -> TakeEvent:
    take = Take(
        take_id="t1", index=1, workflow=Workflow(workflow_id="w1"), state=TakeState.RESERVED
    )
    return TakeEvent("proj", "EP001", "BATCH_001", "EP001_SH01", take, previous_state="planned")


def scene_event() -> SceneEvent:
    return SceneEvent("proj", "EP001", "BATCH_001", "created", version=1, detail="new scene")


def test_recoil_on_take_event_reaches_observers_even_after_one_raises() -> None:
    first, last = Recorder(), Recorder()
    registry = build_registry(
        extra=[("a", first), ("b", Exploding()), ("c", last)], include_entry_points=False
    )
    event = take_event()

    registry.notify_take(event)

    assert first.takes == [event] and last.takes == [event]
    assert first.scenes == []
    assert registry.host.records["b"].status == "ok"
    assert registry.host.records["a"].provides == ["observer:scene", "observer:take"]


def test_recoil_on_scene_event_reaches_observers_even_after_one_raises() -> None:
    first, last = Recorder(), Recorder()
    registry = build_registry(
        extra=[("a", first), ("b", Exploding()), ("c", last)], include_entry_points=False
    )
    event = scene_event()

    registry.notify_scene(event)

    assert first.scenes == [event] and last.scenes == [event]
    assert first.takes == []


def test_a_failed_plugin_observes_nothing() -> None:
    class BrokenObserver(Recorder):
        @hookimpl
        def recoil_grouping_strategies(self) -> list[Any]:
            raise RuntimeError("cannot register")

    broken = BrokenObserver()
    registry = build_registry(extra=[("x", broken)], include_entry_points=False)

    registry.notify_take(take_event())
    registry.notify_scene(scene_event())

    assert registry.host.records["x"].status == "failed"
    assert broken.takes == [] and broken.scenes == []
