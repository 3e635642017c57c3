"""The journal: every write of a run (scene saves, renders, ledger appends) in one batch
writer, and the state moves of takes, persisted and announced to observers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from recoil_core.contracts.gates import SceneEvent, TakeEvent
from recoil_core.events import SceneEventKind
from recoil_core.model import WorkflowStep, utc_now
from recoil_core.persistence.protocol import PersistenceBackend
from recoil_core.registry import Registry
from recoil_core.runner.context import DispatchOptions, SceneSession, TakeContext
from recoil_core.runner.writer import BatchWriter
from recoil_core.takes import Event, advance

T = TypeVar("T")


class Journal:
    """Durable writes for one run, and :meth:`move`: advance a take, then persist it."""

    def __init__(
        self, *, backend: PersistenceBackend, registry: Registry, options: DispatchOptions
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.options = options
        self._writer = BatchWriter(
            getattr(backend, "write_batch", None),
            inline=bool(getattr(backend, "inline_write_batches", False)),
        )

    def close(self) -> None:
        """Finish the writes handed over and stop the writer."""
        self._writer.close()

    async def write(
        self, function: Callable[..., T], /, *args: Any, urgent: bool = False, **kwargs: Any
    ) -> T:
        """Run blocking writes in the writer's next batch; return once they are durable.

        Every write (scene saves, renders, ledger appends) goes to one writer, which
        commits those that queued up together in one batch (see
        :mod:`recoil_core.runner.writer`), so a take's next side effect never starts
        before its state is durable. ``urgent`` writes go first.
        """
        return await self._writer.call(function, *args, urgent=urgent, **kwargs)

    async def move(
        self,
        ctx: TakeContext,
        event: Event,
        step: WorkflowStep | None = None,
        *,
        urgent: bool = False,
    ) -> None:
        """Advance the take by ``event`` (see :mod:`recoil_core.takes`), then persist it."""
        previous = advance(ctx.take, event, step)
        await self.persist(ctx, previous, urgent=urgent)

    async def persist(
        self, ctx: TakeContext, previous: str | None, *, urgent: bool = False
    ) -> None:
        """Save the scene (compare-and-set on its active version), then tell observers.

        Other takes keep going while the write waits for its batch; saves of one scene are
        serialised and each writes the scene as it was when its turn came. ``urgent``: a
        held provider slot waits on this save (``submitting``), so it is written first.
        """
        ctx.take.updated_at = utc_now()
        await self.save(ctx.session, urgent=urgent)
        if previous != ctx.take.state.value:
            self.announce(ctx, previous)

    def announce(self, ctx: TakeContext, previous: str | None) -> None:
        """Tell observers the take moved from ``previous`` to its current state."""
        self.registry.notify_take(
            TakeEvent(
                project=self.options.project,
                episode=self.options.episode,
                scene_id=ctx.scene_id,
                beat_id=ctx.beat.beat_id,
                take=ctx.take,
                previous_state=previous,
            )
        )

    async def save(self, session: SceneSession, *, urgent: bool = False) -> None:
        """Write the scene: create it if it is new, else compare-and-set its active version.

        Saves of one scene take turns. A save whose turn comes after a write that began
        once it was asked for returns at once: that write copied the scene after every
        change this save was asked to make durable (a take changes, then asks), so the
        scene is written once for all the takes that waited on one write.
        """
        session.saves_asked += 1
        asked = session.saves_asked
        async with session.lock:
            if session.saved_through >= asked:
                return
            holds = session.saves_asked
            scene = session.scene
            if len(scene.beats) > 1:  # other beats' takes may change it while it is written
                scene = scene.copy()
            if session.needs_create:
                session.version = await self.write(
                    self.backend.create_scene,
                    self.options.project,
                    self.options.episode,
                    scene,
                    urgent=urgent,
                )
                session.needs_create = False
                session.saved_through = holds
                self.registry.notify_scene(
                    SceneEvent(
                        project=self.options.project,
                        episode=self.options.episode,
                        scene_id=scene.scene_id,
                        kind=SceneEventKind.CREATED,
                        version=session.version,
                    )
                )
                return
            await self.write(
                self.backend.save_scene,
                self.options.project,
                self.options.episode,
                scene,
                expected_version=session.version,
                urgent=urgent,
            )
            session.saved_through = holds
