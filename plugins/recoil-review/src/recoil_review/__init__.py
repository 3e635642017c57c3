"""recoil-review: the dailies page of a Recoil episode (``recoil review PLAN``).

Takes side by side with their players, prompts, models, seeds, references, cost and
state; the reviewer selects, approves, rejects with a note and asks for retakes through
the kernel's selection API. ``create_app`` builds the ASGI app, ``serve`` runs it.
"""

from __future__ import annotations

from recoil_review.app import create_app
from recoil_review.episode import Episode, Selection, episode_view
from recoil_review.guard import Guard, is_loopback, new_token
from recoil_review.server import serve

__all__ = [
    "Episode",
    "Guard",
    "Selection",
    "create_app",
    "episode_view",
    "is_loopback",
    "new_token",
    "serve",
]
