"""Persistence: the backend protocol and the built-in filesystem backend."""

from recoil_core.persistence.protocol import PersistenceBackend

__all__ = ["PersistenceBackend"]
