"""How ``recoil run`` draws a run's progress events: a rich bar on a terminal, plain
lines otherwise, only notices (on stderr) with ``--json``."""

from __future__ import annotations

from typing import Any

import typer

from recoil_core.events import BeatFinished, Notice, ProgressEvent, RunStarted


def _spend(spent_usd: float, cap_usd: float | None) -> str:
    return f"${spent_usd:.2f}" + (f" of ${cap_usd:.2f}" if cap_usd is not None else "")


class ProgressView:
    """A run's ``progress`` callback for the terminal. ``mode``: ``rich``, ``plain`` or
    ``json``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.total = 0
        self.done = 0
        self.takes: dict[str, int] = {}
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, Notice):
            if self.mode == "json":
                typer.echo(event.message, err=True)
            else:
                self._print(event.message)
        elif self.mode == "json":
            return
        elif isinstance(event, RunStarted):
            self._start(event)
        elif isinstance(event, BeatFinished):
            self._beat(event)

    def _start(self, event: RunStarted) -> None:
        self.total = event.beats
        cap_text = f" of ${event.cap_usd:.2f}" if event.cap_usd is not None else " (no cap)"
        self._print(
            f"{self.total} beat(s) to render in {event.scenes} scene(s); "
            f"spent ${event.spent_usd:.2f}{cap_text}"
        )
        if self.mode == "rich" and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("[bold]units"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("takes {task.fields[takes]}"),
                TextColumn("spend {task.fields[spend]}"),
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "units",
                total=self.total,
                takes="-",
                spend=_spend(event.spent_usd, event.cap_usd),
            )

    def _beat(self, event: BeatFinished) -> None:
        self.done += 1
        for state_name in event.takes:
            self.takes[state_name] = self.takes.get(state_name, 0) + 1
        spend = _spend(event.spent_usd, event.cap_usd)
        if self._bar is not None:
            takes = ", ".join(f"{n} {name}" for name, n in sorted(self.takes.items()))
            self._bar.update(self._task, advance=1, takes=takes, spend=spend)
        else:
            mark = "done" if event.succeeded else "not done"
            self._print(f"[{self.done}/{self.total}] {event.beat_id}: {mark} (spend {spend})")

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            typer.echo(text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
