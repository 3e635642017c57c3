"""Every error a Recoil user or plugin author can hit, in one small tree.

The CLI turns any :class:`RecoilError` into a message and an exit code; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationFailed",
    "BudgetExhaustedError",
    "CorruptDocumentError",
    "EpisodeLockedError",
    "InvalidIdError",
    "LookupAmbiguous",
    "ModerationBlocked",
    "NameConflictError",
    "OptionError",
    "OutputExpired",
    "PayloadBuildError",
    "PlanError",
    "PlanIssue",
    "PluginCodeError",
    "PluginError",
    "PreflightError",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "RecoilError",
    "SceneVersionConflictError",
    "SchemaVersionError",
    "TaskNotFound",
    "UnavailableNameError",
    "UnknownNameError",
]


class RecoilError(Exception):
    """Base of every error Recoil raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class InvalidIdError(RecoilError, ValueError):
    """An id (project, episode, sequence, shot, pass, scene) is unsafe to use as a file name."""

    exit_code = 2


class PlanIssue:
    """One problem found in a plan: where (``sequences.SEQ11.shots[3].duration_s``) and why."""

    __slots__ = ("location", "message")

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message

    def __repr__(self) -> str:
        return f"PlanIssue({self.location!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlanIssue) and (self.location, self.message) == (
            other.location,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.location, self.message))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class PlanError(RecoilError):
    """A plan file could not be read or broke the plan rules. Carries every issue found."""

    exit_code = 2

    def __init__(self, source: str, issues: Sequence[PlanIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{source}: {len(self.issues)} problem(s) in the plan\n{lines}")


class SchemaVersionError(RecoilError):
    """A persisted document was written by a newer Recoil than this one."""

    exit_code = 3


class CorruptDocumentError(RecoilError):
    """A persisted document is unreadable. It is never overwritten; the path says where."""

    exit_code = 3

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        advice = (
            "Correct that line from the provider's billing records or restore the ledger "
            "from a backup; do not delete it: the budget counts what it holds."
            if ".jsonl line " in path
            else "Restore it from a backup or move it aside to start that scene afresh."
        )
        super().__init__(f"{path}: corrupt document ({reason}); it was left untouched. {advice}")


class SceneVersionConflictError(RecoilError):
    """The scene's active version moved since it was loaded; nothing was written or paid for."""

    exit_code = 4

    def __init__(self, scene_id: str, expected: int | None, actual: int | None) -> None:
        self.scene_id = scene_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"scene {scene_id}: active version is v{actual}, expected v{expected}; "
            "another writer changed it. Nothing was submitted; "
            "run again to pick up the new version."
        )


class EpisodeLockedError(RecoilError):
    """Another process holds the episode lock."""

    exit_code = 5


class CreateHeldError(RecoilError):
    """A backend's write of ``submitting`` that was to take the step's create key with it
    (see :class:`~recoil_core.persistence.protocol.CreateGuard`'s optional ``defer``)
    found the key held by another live process: nothing was written, and the step is
    left to that process, as when ``acquire`` says no."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"the create of {key} is held by another live process")


class BudgetExhaustedError(RecoilError):
    """The budget cap would be exceeded; nothing more is dispatched.

    ``rendered_shot_ids`` lists the shot ids of beats that really rendered in this run
    before the halt (beats that gained a take other than a build error).
    """

    exit_code = 6

    def __init__(self, remaining: float, *, rendered_shot_ids: Sequence[str] | None = None) -> None:
        self.remaining = remaining
        self.rendered_shot_ids: list[str] = list(rendered_shot_ids or [])
        super().__init__(
            f"budget exhausted: ${remaining:.4f} remaining; raise --budget to render more "
            "(rendered in this run: "
            f"{', '.join(self.rendered_shot_ids) if self.rendered_shot_ids else 'nothing'})"
        )


class PluginError(RecoilError):
    """A plugin could not be loaded or registered something invalid."""

    exit_code = 7


class PluginCodeError(PluginError):
    """Plugin code raised something other than a :class:`RecoilError` (a bug in the plugin),
    or returned what its contract does not allow. The message names the plugin and its
    distribution when known; the original exception is kept as ``__cause__``."""

    def __init__(self, what: str, origin: str | None, problem: str, advice: str = "") -> None:
        self.what = what
        self.origin = origin
        self.problem = problem
        source = f" ({origin})" if origin else ""
        super().__init__(
            f"{what}{source} {problem}. That is a bug in the plugin, not in Recoil: "
            f"report it to the plugin's authors{f'; {advice}' if advice else ''}"
        )


class UnknownNameError(RecoilError):
    """A strategy, runner, provider or backend name that no loaded plugin registers."""

    exit_code = 2

    def __init__(self, kind: str, name: str, available: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        listing = ", ".join(self.available) if self.available else "none installed"
        super().__init__(f"unknown {kind} {name!r}; available: {listing}")


class OptionError(RecoilError, ValueError):
    """A plugin option (``--option key=value``) that the plugin does not declare, or whose
    value does not fit the declared type. The message names the options it knows."""

    exit_code = 2


class PreflightError(RecoilError):
    """A preflight gate refused the run before anything was reserved or paid for."""

    exit_code = 8


class PayloadBuildError(RecoilError):
    """A modality runner could not build the workflow for a beat (the take becomes build_error)."""

    def __init__(self, beat_id: str, cause: BaseException | str) -> None:
        self.beat_id = beat_id
        self.cause = cause
        super().__init__(f"beat {beat_id}: could not build the workflow: {cause}")


class ProviderError(RecoilError):
    """Base of provider failures. ``retryable`` says whether the same call may be tried again."""

    retryable = False
    exit_code = 9

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class ProviderRejected(ProviderError):
    """The provider refused the request (bad parameters, auth): retrying will not help."""


class ModerationBlocked(ProviderRejected):
    """The provider's input or output moderation rejected this take."""


class AuthenticationFailed(ProviderRejected):
    """The provider refused the credentials. Every later call would fail too, so the run
    stops submitting (takes already at the provider finish) and the user fixes the key."""


class TaskNotFound(ProviderError):
    """The provider does not know (or no longer keeps) the task."""


class LookupAmbiguous(ProviderError):
    """A search for a lost create found more than one job that could be the take's: the
    runner never guesses (it could adopt another take's job) and asks a person."""


class OutputExpired(ProviderError):
    """Raised by ``Provider.download`` when a
    finished job's output is gone for good: the service deleted it (its declared
    ``output_retention_s`` passed) before it could be downloaded. The job was billed all
    the same: the runner records the take ``failed_but_billed`` with this reason, charges
    ``cost_usd`` (the provider's bill; ``None``: the bill of the status it was given) and
    retries nothing. Raise it only when the output cannot come back; a URL that a fresh
    poll would sign again is :class:`ProviderUnavailable`."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        code: str | None = "output_expired",
        cost_usd: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.job_id = job_id
        self.cost_usd = cost_usd


class ProviderUnavailable(ProviderError):
    """The provider failed or could not be reached; a later try may succeed (after
    ``retry_after`` seconds, when the service said so)."""

    retryable = True

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RateLimited(ProviderUnavailable):
    """The provider asked us to slow down; ``retry_after`` seconds if it said."""


class NameConflictError(RecoilError):
    """A name (strategy, runner, provider...) that two distributions register, and no
    preference (``--prefer NAME=DIST`` / ``RECOIL_PREFER``) says which one owns."""

    exit_code = 2

    def __init__(self, kind: str, name: str, claimants: Sequence[str], how: str) -> None:
        self.kind = kind
        self.name = name
        self.claimants = list(claimants)
        who = (
            f"is registered by more than one plugin: {' and '.join(self.claimants)}"
            if len(self.claimants) > 1
            else f"is registered only by {''.join(self.claimants)}"
        )
        super().__init__(f"{kind} {name!r} {who}, and none of them owns it. {how}")


class UnavailableNameError(UnknownNameError):
    """An unknown name, with why it is missing: the plugin that provides it failed, is
    incompatible, is disabled, or its distribution is not installed."""

    def __init__(self, kind: str, name: str, available: Sequence[str], reason: str) -> None:
        super().__init__(kind, name, available)
        self.reason = reason
        self.args = (f"{self.args[0]}. {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])
