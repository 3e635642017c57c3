# mypy: disable-error-code="empty-body"
"""The hooks a Recoil plugin can implement. Read this file and nothing else to write one.

A plugin is a module (or object) named by an entry point in the ``recoil.plugins`` group.
It implements hooks by decorating functions with :data:`hookimpl`::

    from recoil_core import hookimpl

    @hookimpl
    def recoil_grouping_strategies():
        return [MyStrategy()]

Registration hooks (``recoil_*s``) are called once per run; each returns a list of
objects from :mod:`recoil_core.interfaces` (an empty list is fine). The kernel's registry
collects every plugin's list into a name map. Names are owned explicitly: a name that two
plugins register belongs to neither (using it is an error naming both distributions)
until the user picks its owner with ``--prefer NAME=DISTRIBUTION`` or ``RECOIL_PREFER``;
both plugins' other names keep working. Observer hooks (``recoil_on_*``) are called for
their side effects; an observer that raises is logged and ignored, never allowed to stop
a run.

Everything pluggy allows works: ``@hookimpl(specname="recoil_preflight_gates")`` on a
function of any name, ``tryfirst=True`` / ``trylast=True`` (the order gates run and
observers are called in; otherwise the plugin registered last is called first), and
implementations that take fewer arguments than the spec. Hook wrappers are refused
(the registry calls each implementation on its own).

Hook arguments are only ever added, never renamed: implement just the ones you use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from recoil_core.contracts.backend import BackendSpec
    from recoil_core.contracts.gates import PreflightGate, SceneEvent, TakeEvent
    from recoil_core.contracts.grouping import GroupingStrategy
    from recoil_core.contracts.provider import CostEstimator, ProviderSpec
    from recoil_core.contracts.runner import ModalityRunner
    from recoil_core.model import Asset, CanonicalPlan

PROJECT_NAME = "recoil"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def recoil_grouping_strategies() -> list[GroupingStrategy]:
    """Register grouping strategies: how shots become render units.

    Return a list of objects satisfying
    :class:`~recoil_core.contracts.grouping.GroupingStrategy`: a unique ``name`` (what users pass
    to ``--strategy``), a one-line ``description``, and
    ``assemble(shots, ctx) -> list[Group]``. Each :class:`~recoil_core.model.Group` is one
    scene; its ``units`` are the render units (beats), each with a
    :class:`~recoil_core.model.GroupIdentity` and the modality of the runner that builds it.
    A strategy that takes ``--option`` values declares them in an ``options`` attribute (a
    list of :class:`~recoil_core.contracts.grouping.OptionSpec`); the kernel checks and converts
    them before calling ``assemble``.

    Results of all plugins are concatenated; a name two plugins register is contested:
    using it is an error naming both distributions until ``--prefer`` picks its owner.
    Register lazily with :class:`~recoil_core.lazy.LazyStrategy` so listing plugins
    imports nothing heavy; a strategy may declare the options it accepts as ``options``,
    a sequence of :class:`~recoil_core.contracts.grouping.OptionSpec` (``recoil plugins show``
    prints them).

    Since 0.1.
    """


@hookspec
def recoil_modality_runners() -> list[ModalityRunner]:
    """Register modality runners: builders of the workflow that renders one beat.

    Return a list of objects satisfying :class:`~recoil_core.contracts.runner.ModalityRunner`:
    ``modality`` (``"video_i2v"``, ``"r2v_multi"``, ``"image_t2i"``...), a ``description``
    and ``build_workflow(beat, ctx) -> Workflow``. A workflow is a list of
    :class:`~recoil_core.model.WorkflowStep`; a step names its modality and model, and
    may take another step's output as an input (``inputs={"first_frame": "kf"}``).
    Raise :class:`~recoil_core.errors.PayloadBuildError` if the beat cannot be built.

    One runner per modality across all plugins; a modality two plugins register is
    contested (an error naming both distributions) until ``--prefer`` picks its owner.
    A unit whose modality has no runner is refused in preflight. A
    :class:`~recoil_core.lazy.LazyRunner` whose class cannot be imported is a
    ``PluginError`` naming the plugin when it is first needed, and a ``failed`` plugin
    under ``recoil plugins list --check`` and strict mode.

    Since 0.1.
    """


@hookspec
def recoil_providers() -> list[ProviderSpec]:
    """Register generation providers (video and image services).

    Return a list of :class:`~recoil_core.contracts.provider.ProviderSpec`: a unique ``name``
    (what users pass to ``--provider``), the ``modalities`` and ``models`` it serves, its
    :class:`~recoil_core.contracts.provider.ProviderLimits`, whether it can find a job by its
    request after a lost create (``can_find_by_request``), whether it bills failures, an
    optional ``check`` (problems that stop a run before anything is reserved, such as a
    missing API key) and a ``factory(ctx) -> Provider``. Keep this hook cheap: import
    HTTP clients inside ``factory``, so ``recoil plugins list`` stays fast.

    Declare what the service can do; the kernel assumes nothing else:
    ``model_capabilities`` (per model: clip ``durations``, resolutions, aspect ratios,
    ``max_reference_images``, ``frames_with_references``; ``group``, dry runs and
    preflight refuse a unit its model cannot render, and runners read the reference
    limits), ``cancellable_states`` and ``cancel_running_billed``, ``find_window_s`` and
    ``find_consistency_s`` for lost creates, ``output_retention_s``. ``recoil providers
    show NAME`` prints the declaration; ``recoil_core.testing.providers`` holds the
    conformance suite that checks a provider keeps it (docs/writing-a-provider.md).
    A provider whose bill depends on what a create asked, which its service later
    forgets, implements the optional ``Provider.remember(job_id, request)``: the kernel
    hands it the saved request before it polls a job.

    Secrets (API keys) come from ``ctx.env`` and must never be written to any file,
    log, error message or returned status metadata.

    Since 0.1.
    """


@hookspec
def recoil_cost_estimators() -> list[CostEstimator]:
    """Register cost estimators: the USD cost of one workflow step on one provider.

    Return a list of :class:`~recoil_core.contracts.provider.CostEstimator` keyed by provider
    name. The runner reserves the estimate of every step of a take before the first paid
    call and charges the provider-reported actual cost afterwards, so an estimate should
    err high rather than low. A provider with no estimator is estimated at 0. An estimate
    must be a finite number >= 0; anything else is a ``PluginError`` that stops the run
    before anything is reserved.

    One estimator per provider across all plugins; a contested one stops any run that
    prices that provider until ``--prefer`` picks its owner.

    Since 0.1.
    """


@hookspec
def recoil_persistence_backends() -> list[BackendSpec]:
    """Register persistence backends (where scenes, takes and the ledger live).

    Return a list of :class:`~recoil_core.contracts.backend.BackendSpec` whose ``factory(ctx)``
    builds an object satisfying
    :class:`~recoil_core.persistence.protocol.PersistenceBackend`. A backend should pass
    ``recoil_core.testing.conformance`` (the suite the built-in ``filesystem`` backend
    passes). Users choose one with ``RECOIL_BACKEND`` (default ``filesystem``).

    Since 0.1.
    """


@hookspec
def recoil_preflight_gates() -> list[PreflightGate]:
    """Register preflight gates: checks run before anything is reserved or paid for.

    Return a list of :class:`~recoil_core.contracts.gates.PreflightGate`; ``check(ctx)`` gets a
    :class:`~recoil_core.contracts.gates.PreflightContext` and returns a list of problems (empty
    when fine). Any problem from any gate stops the run with all problems listed.

    Gates run in pluggy's order (``tryfirst`` first, ``trylast`` last). Gates are never
    looked up by name, so while a gate name is contested every claimant runs.

    Since 0.1.
    """


@hookspec
def recoil_asset_references(asset: Asset, plan: CanonicalPlan) -> list[str] | None:
    """Supply the reference images of a character or location (a studio's asset library).

    Called for each asset the plan declares without ``reference_images`` of its own, when
    ``recoil assets render`` chooses the sheets to make, when ``recoil run`` binds the
    references clips are built from, and by ``recoil assets list`` and ``approve``. Return
    image files (absolute paths) or ``http(s)`` URLs to use them as the asset's studio
    references: no sheet is rendered for it, an approved sheet is not used, and every clip
    showing it is sent these images. Return ``None`` (or an empty list) to leave the asset
    to the plan's asset bible.

    :param asset: the asset (``asset_id``, ``kind``, ``name``, ``description``, ``look``).
        Do not mutate it.
    :param plan: the episode's plan (``project``, ``episode_id``, ``source_path``); read
        only.

    Implementations are asked in pluggy's order (``tryfirst`` first); the first answer
    other than ``None`` is used. The images are part of the derivation of every scene
    showing the asset: when the library answers other images, those scenes get candidate
    versions on the next run, never a silent re-render. Raise a ``RecoilError`` to stop
    with your message; any other exception, a reference that is neither an existing
    absolute file nor an ``http(s)`` URL, or an answer that is not a list of strings stops
    the command with an error naming the plugin.

    Since 0.1.
    """


@hookspec
def recoil_on_take_event(event: TakeEvent) -> None:
    """Observe a take state change. Called after the new state was persisted.

    One exception: ``reserved`` is announced when the take's budget is reserved, before
    anything is written. A new take is first written as ``submitting`` (with its
    estimate and seed), in its provider slot, right before its paid call; a run stopped
    before that leaves no take behind.

    :param event: the take (with its new state), its scene and beat, and the previous
        state. Do not mutate ``event.take``.

    Every implementation is called, in pluggy's order (``tryfirst`` first), with the
    arguments it declares; return values are ignored; exceptions are logged.

    Since 0.1.
    """


@hookspec
def recoil_on_scene_event(event: SceneEvent) -> None:
    """Observe a scene event: how a run reconciled a scene, and when it finished with it.

    ``event.kind`` is ``created``, ``reused``, ``replaced`` (an unrendered version was
    superseded), ``candidate_staged``, ``candidate_exists`` (reconciliation, before any
    dispatch) or ``finished`` (after the run's dispatch, with ``"k/n beat(s) rendered"`` in
    ``event.detail``). Dry runs emit nothing. The kernel sends these as members of
    :class:`recoil_core.events.SceneEventKind`, a ``str`` enum: comparing ``event.kind``
    with the plain strings above keeps working, and ``SceneEventKind(event.kind)`` gives
    the member.

    :param event: project, episode, scene id, event kind, the version concerned and a
        human-readable detail.

    Every implementation is called, in pluggy's order (``tryfirst`` first), with the
    arguments it declares; return values are ignored; exceptions are logged.

    Since 0.1.
    """
