"""The episode runner. ``episode.py`` wires one run; ``options``, ``planning``,
``reconcile``, ``preflight``, ``dispatch`` (the take executor), ``pool`` (its workers),
``recovery``, ``dry_run``, ``accounting`` and ``report`` each hold one step; ``queries``
is the read side (``recoil status``, ``recoil budget``)."""

from recoil_core.runner.episode import EpisodeRunner, RunOptions, RunReport

__all__ = ["EpisodeRunner", "RunOptions", "RunReport"]
