"""The contracts plugins implement, one module each.

- :mod:`~recoil_core.contracts.grouping`: grouping strategies (shots into render units).
- :mod:`~recoil_core.contracts.runner`: modality runners (a beat into provider steps).
- :mod:`~recoil_core.contracts.provider`: video and image providers (submit, poll,
  cancel, download; declared capabilities and prices).
- :mod:`~recoil_core.contracts.backend`: persistence backend registration (the backend
  protocol itself is :mod:`recoil_core.persistence.protocol`).
- :mod:`~recoil_core.contracts.gates`: preflight gates and run observers' events.

The registration hooks that return these objects are in :mod:`recoil_core.hookspecs`;
plugins import them from :mod:`recoil_core.api`.
"""
