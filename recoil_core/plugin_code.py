"""Calling into plugin code: what escapes it that is not a RecoilError becomes a
:class:`~recoil_core.errors.PluginCodeError` naming the plugin, never a bare traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from recoil_core.errors import PluginCodeError, RecoilError

if TYPE_CHECKING:
    from recoil_core.registry import Registry, _Kind


@contextmanager
def guarded(what: str, origin: str | None = None, *, advice: str = "") -> Iterator[None]:
    """Run the block as plugin code. A :class:`RecoilError` passes unchanged (the plugin
    meant it); any other exception becomes a :class:`PluginCodeError` whose message names
    ``what`` (``"grouping strategy 'x'"``), ``origin`` (its plugin and distribution) and
    ``advice``; the exception is kept as its ``__cause__`` for ``--debug``."""
    try:
        yield
    except RecoilError:
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise PluginCodeError(what, origin, f"raised {detail}", advice) from exc


def origin_of(registry: Registry | None, kind: _Kind[Any], name: str) -> str | None:
    """``plugin 'grouping' of recoil-plugins-grouping 0.1.0``, when the registry knows."""
    if registry is None:
        return None
    found = registry.origin(kind, name)
    if found is None:
        return None
    if found.distribution is None:
        return f"plugin {found.plugin!r}"
    return f"plugin {found.plugin!r} of {found.distribution} {found.version or ''}".rstrip()
