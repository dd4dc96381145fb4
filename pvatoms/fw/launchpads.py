"""Which LaunchPad a command talks to: the embedded store (default) or a real MongoDB.

- ``--store PATH`` or nothing: :class:`~pvatoms.fw.store.EmbeddedStore` at PATH, else
  ``$PVATOMS_STORE``, else the per-user folder (``~/.local/share/pvatoms/store``).
- ``--launchpad my_launchpad.yaml``: a standard FireWorks LaunchPad file (host, port, name,
  username, password, or a MongoDB URI with ``uri_mode: true``). An unreachable server is reported
  within ``timeout`` seconds instead of hanging.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw.store import EmbeddedStore

MONGO_TIMEOUT_MS = 3000


def load_mongo_launchpad(path, timeout_ms: int = MONGO_TIMEOUT_MS):
    """A FireWorks LaunchPad from ``my_launchpad.yaml``, checked with a ping (InputError if the
    server cannot be reached within ``timeout_ms``)."""
    from fireworks import LaunchPad
    path = Path(path)
    if not path.is_file():
        raise InputError(f"LaunchPad file {str(path)!r} not found")
    try:
        lp = LaunchPad.from_file(str(path))
    except Exception as exc:
        raise InputError(f"{path} is not a valid LaunchPad file: {exc}") from None
    if lp.mongoclient_kwargs is None:
        lp.mongoclient_kwargs = {}
    if "serverSelectionTimeoutMS" not in lp.mongoclient_kwargs:
        lp.mongoclient_kwargs["serverSelectionTimeoutMS"] = timeout_ms
        lp = LaunchPad.from_dict(lp.to_dict())
    try:
        lp.connection.admin.command("ping")
    except Exception as exc:
        where = lp.host if lp.uri_mode else f"{lp.host}:{lp.port}"
        raise InputError(f"MongoDB server of {path} ({where}, database {lp.name!r}) is unreachable "
                         f"after {timeout_ms / 1000:.0f} s: {type(exc).__name__}. Check the server, the "
                         "credentials and the network, or use the embedded store (--store PATH).") from None
    return lp


class Target:
    """The LaunchPad of a command: ``with target.launchpad() as lp`` gives a short transaction on
    the embedded store, or the live MongoDB LaunchPad."""

    def __init__(self, store=None, launchpad_file=None):
        if store and launchpad_file:
            raise InputError("give --store or --launchpad, not both")
        self.launchpad_file = launchpad_file
        self.store = None if launchpad_file else EmbeddedStore(store)
        self._mongo = None

    @property
    def embedded(self) -> bool:
        return self.store is not None

    def describe(self) -> str:
        return f"embedded store {self.store.path}" if self.embedded else f"MongoDB ({self.launchpad_file})"

    @contextlib.contextmanager
    def launchpad(self, write: bool = True):
        if self.embedded:
            with self.store.launchpad(write=write) as lp:
                yield lp
        else:
            if self._mongo is None:
                self._mongo = load_mongo_launchpad(self.launchpad_file)
            yield self._mongo
