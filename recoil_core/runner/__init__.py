"""The episode runner: planning, reconciliation, dispatch and accounting, wired in episode.py."""

from recoil_core.runner.episode import EpisodeRunner, RunOptions, RunReport

__all__ = ["EpisodeRunner", "RunOptions", "RunReport"]
