"""A durable embedded LaunchPad: FireWorks' serverless (mongomock) store made safe.

As shipped, the serverless store reads its JSON file once when a client is created and writes it
back, non-atomically, when the process exits: two launchers run fireworks twice and lose records,
a workflow added while a launcher runs is deleted, ``kill -9`` loses all progress, readers see
torn files. Here every use of the store is a short transaction:

1. take an exclusive ``fcntl`` lock on ``STORE/lock``;
2. load ``STORE/launchpad.json`` into a fresh in-memory mongomock client (a FireWorks LaunchPad);
3. do the work (add a workflow, reserve a firework, record its result, ...);
4. write the store back atomically (temporary file, fsync, rename) and release the lock.

The exit-time write of mongomock-persistence is switched off, so a process that ends late can
never overwrite newer data. Fireworks run *outside* the lock in FireWorks' offline mode (the
launch folder holds FW.json / FW_offline.json), so submissions and status queries never wait for a
calculation, and two launchers run different fireworks side by side.

>>> store = EmbeddedStore("~/.local/share/pvatoms/store")        # doctest: +SKIP
>>> with store.launchpad() as lp:                               # doctest: +SKIP
...     lp.add_wf(workflow)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from pvatoms.errors import InputError

STORE_FILE = "launchpad.json"
LOCK_FILE = "lock"


def default_store_path() -> Path:
    """``$PVATOMS_STORE`` or the per-user data folder (``$XDG_DATA_HOME/pvatoms/store``)."""
    env = os.environ.get("PVATOMS_STORE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "pvatoms" / "store"


class EmbeddedStore:
    """The FireWorks LaunchPad kept in one folder, safe for concurrent processes on one machine
    (or on a shared file system with working ``fcntl`` locks)."""

    def __init__(self, path=None):
        self.path = Path(path).expanduser().resolve() if path else default_store_path().resolve()
        self.file = self.path / STORE_FILE
        self.lock_file = self.path / LOCK_FILE
        self.launches = self.path / "launches"

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"

    def ensure(self) -> None:
        """Create the folder and an empty store if there is none."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the store folder {self.path}: {exc}") from exc
        if not self.file.exists():
            _atomic_write(self.file, "{}")

    @contextlib.contextmanager
    def locked(self):
        """Hold the store's exclusive lock."""
        self.ensure()
        with open(self.lock_file, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def launchpad(self, write: bool = True):
        """A FireWorks LaunchPad on the current store contents, under the lock. On leaving the
        block without an exception the store is written back atomically (if ``write``)."""
        with self.locked():
            lp, server_store = _open_mongomock_launchpad(self.file)
            if lp.fw_id_assigner.find_one({}) is None:     # a new store: initialise the counters
                lp.reset("", require_password=False)
                write = True
            try:
                yield lp
            except BaseException:
                server_store._finalizer.detach()       # never write half-done work
                raise
            else:
                server_store._finalizer.detach()
                if write:
                    _atomic_write(self.file, _dumps(server_store))

    def read(self) -> dict:
        """The raw store (a consistent snapshot; no lock needed thanks to atomic writes)."""
        import bson.json_util
        if not self.file.exists():
            return {}
        return bson.json_util.loads(self.file.read_text())


def _open_mongomock_launchpad(store_file: Path):
    """A LaunchPad backed by a mongomock client that reads ``store_file`` now."""
    import mongomock.gridfs
    import mongomock_persistence  # noqa: F401  (patches mongomock's store to load/dump JSON)
    from fireworks.core import launchpad as lp_module

    mongomock.gridfs.enable_gridfs_integration()   # what FireWorks' own serverless mode does

    os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(store_file)
    original = lp_module.MongoClient
    lp_module.MongoClient = mongomock_persistence.MongoClient   # this LaunchPad only
    try:
        lp = lp_module.LaunchPad(name="pvatoms", strm_lvl="ERROR")
    finally:
        lp_module.MongoClient = original
    server_store = lp.connection._store
    return lp, server_store


def _dumps(server_store) -> str:
    import bson.json_util
    return bson.json_util.dumps(server_store.to_dict())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{socket.gethostname()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
