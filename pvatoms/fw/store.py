"""A durable embedded LaunchPad: FireWorks on an in-memory mongomock database, kept in one folder.

As shipped, FireWorks' serverless (mongomock) store reads its JSON file once and writes it back,
non-atomically, at process exit: launchers run fireworks twice and lose records, ``kill -9`` loses
all progress, readers see torn files. Here every use of the store is a short transaction under an
``fcntl`` lock on ``STORE/lock`` (exclusive to write, shared to read):

1. the process's own copy of the store (kept between transactions, with hash indexes:
   :mod:`pvatoms.fw.memstore`) catches up with what other processes committed, by reading the new
   records of ``STORE/journal.bin``, and is checked;
2. the work is done on a FireWorks LaunchPad over that copy;
3. the documents it changed are appended to the journal as one record and fsynced; a transaction
   that raises writes nothing.

So a transaction costs what it changes, not what the store holds. When the journal has grown past
half the snapshot's size (and :data:`COMPACT_BYTES`), it is folded into a new ``launchpad.json``
(atomic replace); the previous snapshot and journal are kept in ``STORE/backup/``. Files:
:mod:`pvatoms.fw.journal`; damage and recovery: :mod:`pvatoms.fw.recovery`.

A store is only ever created in a folder holding no store at all; anything unreadable is reported
(:class:`~pvatoms.fw.recovery.StoreDamaged`, an InputError saying how to recover), never reset.
A ``launchpad.json`` of the first format (before the journal) is read as it is and converted at
the first write (the original is kept as ``backup/launchpad-v1.json``).

>>> store = EmbeddedStore("~/.local/share/pvatoms/store")        # doctest: +SKIP
>>> with store.launchpad() as lp:                               # doctest: +SKIP
...     lp.add_wf(workflow)
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import threading
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw import journal as jf
from pvatoms.fw import memstore

STORE_FILE = jf.SNAPSHOT
LOCK_FILE = "lock"
#: The journal is folded into a new snapshot when it is larger than this (bytes) and than half the
#: snapshot: a process that opens the store reads at most 1.5 snapshots' worth, and a compaction
#: (which writes one snapshot) comes at most once per half a snapshot of changes.
COMPACT_BYTES = int(os.environ.get("PVATOMS_STORE_COMPACT_BYTES", 4 * 2 ** 20))


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
        self.journal = self.path / jf.JOURNAL
        self.backup = self.path / jf.BACKUP
        self.lock_file = self.path / LOCK_FILE
        self.launches = self.path / "launches"

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"

    def exists(self) -> bool:
        """Whether the folder holds a store (or what is left of one: a journal, a backup)."""
        return any(p.exists() for p in (self.file, self.journal, self.backup / jf.SNAPSHOT,
                                        self.backup / jf.JOURNAL, self.backup / "launchpad-v1.json"))

    def ensure(self) -> None:
        """Create the folder and a new store if the folder holds no store at all."""
        if not self.exists():
            with self.launchpad():
                pass

    @contextlib.contextmanager
    def locked(self, shared: bool = False):
        """Hold the store's lock (exclusive, or ``shared`` among readers); creates the folder."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the store folder {self.path}: {exc}") from exc
        with open(self.lock_file, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def launchpad(self, write: bool = True):
        """A FireWorks LaunchPad on the current store contents, in one transaction. Leaving the
        block without an exception commits what it changed (if ``write``; a read-only block
        changes nothing on disk, whatever it does to the LaunchPad)."""
        rep = _replica(self)
        with rep.lock:
            if rep.busy:
                raise RuntimeError(f"a transaction on {self} is already open in this thread")
            rep.busy = True
            try:
                if not write and not self.exists():
                    yield _fresh_launchpad()[1]          # nothing stored yet: nothing to read
                    return
                with self.locked(shared=not write):
                    if not self.exists():
                        rep.create()
                    rep.sync()
                    if write and rep.generation == 0:     # first format: convert at the first write
                        rep.compact(keep_v1=True)
                    rep.begin()
                    try:
                        yield rep.lp
                    except BaseException:
                        rep.discard()
                        raise
                    if write:
                        rep.commit()
                    elif rep.server.changes:
                        rep.discard()
            finally:
                rep.busy = False

    def read(self) -> dict:
        """The whole store as one consistent snapshot (mongomock-persistence's layout); ``{}`` if
        there is no store yet."""
        if not self.exists():
            return {}
        with self.launchpad(write=False):
            return _copy(memstore.dump(_replica(self).server))

    # maintenance: pvatoms.fw.recovery
    def check(self) -> dict:
        from pvatoms.fw.recovery import check
        return check(self)

    def recover(self) -> dict:
        from pvatoms.fw.recovery import recover
        return recover(self)

    def reset(self, confirm: bool = False) -> dict:
        from pvatoms.fw.recovery import reset
        return reset(self, confirm)


def _copy(data):
    import bson
    return bson.decode(bson.encode({"d": data}), codec_options=jf._CODEC)["d"]


# -- this process's copies of the stores it uses --------------------------------------------------

_REPLICAS: dict = {}
_REGISTRY = threading.Lock()


def _replica(store: EmbeddedStore) -> "_Replica":
    with _REGISTRY:
        rep = _REPLICAS.get(store.path)
        if rep is None or rep.pid != os.getpid():
            rep = _REPLICAS[store.path] = _Replica(store)
        return rep


def _forget(store: EmbeddedStore) -> None:
    """Drop this process's copy of ``store`` (its files were rewritten as a whole)."""
    with _REGISTRY:
        _REPLICAS.pop(store.path, None)


def _forget_replicas() -> None:
    global _REGISTRY
    _REPLICAS.clear()
    _REGISTRY = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_replicas)


def _fresh_launchpad():
    """A new, initialised LaunchPad on an empty in-memory store: (server, lp)."""
    server = memstore.IndexedServerStore()
    lp = _launchpad_on(server)
    lp.reset("", require_password=False)
    return server, lp


def _launchpad_on(server):
    """A FireWorks LaunchPad whose database is ``server`` (an IndexedServerStore)."""
    import mongomock.gridfs
    from fireworks.core import launchpad as lp_module
    mongomock.gridfs.enable_gridfs_integration()      # what FireWorks' own serverless mode does
    client = memstore.IndexedClient(server)
    original = lp_module.MongoClient
    lp_module.MongoClient = lambda *args, **kwargs: client    # this LaunchPad only
    try:
        return lp_module.LaunchPad(name=jf.DB, strm_lvl="ERROR")
    finally:
        lp_module.MongoClient = original


class _Replica:
    """One process's copy of one store and where it stands in the store's files."""

    def __init__(self, store: EmbeddedStore):
        self.store = store
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.busy = False
        self.server = None
        self.lp = None
        self.generation = -1        # of the snapshot (0: first format, without journal)
        self.seq = 0                # last transaction applied
        self.snap_id = None         # file_id of the snapshot this copy stands on
        self.journal_ino = None     # journal followed (None: none yet)
        self.offset = 0             # bytes of it applied
        self.stale = False          # the journal on disk belongs to an older snapshot
        self.base: dict = {}

    # -- reading ----------------------------------------------------------------------------------
    def sync(self) -> None:
        """Catch up with the files and check them (StoreDamaged if they cannot be used)."""
        from pvatoms.fw.recovery import damaged
        try:
            self._sync()
            self._check_counters()
        except jf.Damage as exc:
            self.server = None
            raise damaged(self.store, exc) from None
        except jf.JournalDamage as exc:
            self.server = None
            raise damaged(self.store, jf.Damage(jf.JOURNAL, f"{exc.reason} at byte {exc.offset}")) from None

    def _sync(self) -> None:
        st = self.store
        snap = jf.stat_or_none(st.file)
        if snap is None:
            raise jf.Damage(jf.SNAPSHOT, "is missing (the journal or backup of a store is there)")
        if self.server is None:
            return self._load()
        jst = jf.stat_or_none(st.journal)
        if jst is not None and jst.st_ino != self.journal_ino:
            return self._switch(jst, snap)
        if jf.file_id(snap) != self.snap_id:
            return self._load()
        if jst is None:
            if self.journal_ino is not None:
                raise jf.Damage(jf.JOURNAL, "has disappeared (it held the changes since the snapshot)")
            return
        if self.stale:
            return
        if jst.st_size < self.offset:
            raise jf.Damage(jf.JOURNAL, f"is shorter ({jst.st_size} bytes) than the {self.offset} bytes "
                                        "already read: it was cut or replaced")
        if jst.st_size > self.offset:
            self._apply(st.journal, self.offset, jst.st_size)

    def _load(self) -> None:
        """Read the snapshot and the whole journal."""
        before = (self.generation, self.seq) if self.server is not None else None
        st = self.store
        snap = os.stat(st.file)
        data = jf.read_snapshot(st.file)
        meta = jf.check_state(data)
        if meta.get("format", 1) > jf.FORMAT:
            raise InputError(f"the store {st.path} was written by a newer pvatoms (store format {meta['format']}, "
                             f"this one reads up to {jf.FORMAT}): use that version, or update pvatoms")
        self.server = memstore.load(data)
        self.lp = _launchpad_on(self.server)
        self.generation = meta.get("generation", 0)
        self.seq = meta.get("seq", 0)
        self.snap_id = jf.file_id(snap)
        self.journal_ino, self.offset, self.stale = None, 0, False
        jst = jf.stat_or_none(st.journal)
        if jst is None and meta:
            raise jf.Damage(jf.JOURNAL, "is missing (it holds every change since the snapshot was written)")
        if jst is not None:
            head = _header(st.journal)
            self.journal_ino = jst.st_ino
            if head["generation"] < self.generation:
                self.stale = True          # a compaction stopped before writing its new journal
            elif head["generation"] > self.generation:
                raise jf.Damage(jf.SNAPSHOT, f"is older (generation {self.generation}) than the journal "
                                             f"(generation {head['generation']}): it was replaced by an old copy")
            else:
                self._apply(st.journal, head["_end"], jst.st_size)
        if before is not None and self.generation <= before[0] and self.seq < before[1]:
            raise jf.Damage(jf.SNAPSHOT, f"went back in time: with the journal it holds transaction {self.seq}, "
                                         f"this process had seen {before[1]} (an older copy was put back?)")

    def _switch(self, jst, snap) -> None:
        """The journal was replaced: follow a compaction without reloading, else reload."""
        head = _header(self.store.journal)
        cont = head.get("continues") or {}
        if cont.get("generation") == self.generation and not self.stale:
            if self.seq < cont.get("seq", -1):        # committed just before the compaction: in the backup
                old = self.store.backup / jf.JOURNAL
                ost = jf.stat_or_none(old)
                if ost is not None and ost.st_ino == self.journal_ino:
                    self._apply(old, self.offset, ost.st_size)
            if self.seq == cont.get("seq") and head.get("snapshot") == jf.file_id(snap):
                self.generation, self.snap_id = head["generation"], head["snapshot"]
                self.journal_ino, self.offset, self.stale = jst.st_ino, head["_end"], False
                if jst.st_size > self.offset:
                    self._apply(self.store.journal, self.offset, jst.st_size)
                return
        self._load()

    def _apply(self, path: Path, start: int, size: int) -> None:
        got = jf.read_journal(path, start, size)
        for rec in got.records:
            if rec.get("kind") != "txn" or rec.get("seq") != self.seq + 1:
                raise jf.Damage(path.name, f"record {rec.get('seq')!r} ({rec.get('kind')}) does not follow "
                                           f"transaction {self.seq}")
            jf.apply_record(self.server, rec)
            self.seq = rec["seq"]
        self.offset = got.end
        self.server.changes.clear()

    def _check_counters(self) -> None:
        docs = self.server.collection(jf.DB, "fw_id_assigner")._documents
        if len(docs) != 1:
            raise jf.Damage("store", f"the id counters (fw_id_assigner) are gone ({len(docs)} documents)")

    # -- writing ----------------------------------------------------------------------------------
    def create(self) -> None:
        """Initialise a new store (the folder holds none): snapshot and journal of generation 1."""
        self.server, self.lp = _fresh_launchpad()
        self.generation, self.seq, self.snap_id, self.journal_ino, self.stale = 0, 0, None, None, False
        self.compact(chain=False)

    def begin(self) -> None:
        self.server.changes.clear()
        self.base = {(db, name): col.next_seq for db, d in self.server._databases.items()
                     for name, col in d._collections.items()}
        # FireWorks keeps copies of checked-out fireworks for restore_backup_data; a LaunchPad that
        # lives across transactions would restore stale copies: keep the per-transaction behaviour
        self.lp.backup_launch_data, self.lp.backup_fw_data = {}, {}

    def discard(self) -> None:
        """Forget uncommitted changes: the next transaction reloads from the files."""
        self.server = None

    def commit(self) -> None:
        ops = self._ops()
        self.server.changes.clear()
        if not ops:
            return
        try:
            st = self.store
            if self.journal_ino is None or self.stale or jf.stat_or_none(st.journal) is None:
                self._new_journal(None)
            rec = jf.encode_record(jf.txn_record(self.seq + 1, ops))
            self.offset = jf.append(st.journal, rec, self.offset)
            self.seq += 1
            if self.offset > max(COMPACT_BYTES, self.snap_size() // 2):
                self.compact()
        except BaseException:
            self.server = None
            raise

    def snap_size(self) -> int:
        return (self.snap_id or {}).get("size", 0)

    def _ops(self) -> list:
        ch = self.server.changes
        ops = [{"o": "drop", "db": db, "c": c} for db, c in ch.dropped]
        inserts = []
        for db, c, key in ch.keys:
            col = self.server.collection(db, c)
            doc = col._documents.get(key)
            if doc is None:
                ops.append({"o": "del", "db": db, "c": c, "id": key})
            elif col.seq[key] >= self.base.get((db, c), 0):
                inserts.append((db, c, col.seq[key], doc))
            else:
                ops.append({"o": "put", "db": db, "c": c, "doc": doc})
        inserts.sort(key=lambda x: (x[0], x[1], x[2]))
        ops += [{"o": "put", "db": db, "c": c, "doc": doc, "new": True} for db, c, _, doc in inserts]
        return ops

    def _new_journal(self, continues) -> None:
        head = jf.encode_record(jf.header_record(self.generation, continues, self.snap_id))
        jst = jf.write_atomic(self.store.journal, head)
        self.journal_ino, self.offset, self.stale = jst.st_ino, len(head), False

    def compact(self, keep_v1: bool = False, chain: bool = True, backup: bool = True) -> None:
        """Write the whole store as a new snapshot (next generation) and start a new journal; the
        previous snapshot and journal become ``backup/`` (unless not ``backup``: they are damaged
        or reset, and kept elsewhere). With ``chain``, the new journal says it continues the old
        one, so other processes switch to it without reloading."""
        import bson.json_util
        st = self.store
        gen = self.generation + 1
        meta = {"_id": "snapshot", "format": jf.FORMAT, "generation": gen, "seq": self.seq,
                "written": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0),
                "host": socket.gethostname(), "pid": os.getpid()}
        self.server.collection(jf.DB, jf.META).load("snapshot", meta)
        text = bson.json_util.dumps(memstore.dump(self.server)).encode("utf-8")
        tmp, snap = jf.write_temporary(st.file, text)
        try:
            st.backup.mkdir(exist_ok=True)
            if backup and st.file.exists():
                if keep_v1 and not (st.backup / "launchpad-v1.json").exists():
                    jf.keep_copy(st.file, st.backup / "launchpad-v1.json")
                jf.keep_copy(st.file, st.backup / jf.SNAPSHOT)
            if backup and st.journal.exists() and not self.stale:
                jf.keep_copy(st.journal, st.backup / jf.JOURNAL)
            os.replace(tmp, st.file)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        jf.fsync_dir(st.path)
        previous = {"generation": self.generation, "seq": self.seq} if chain else None
        self.generation, self.snap_id = gen, jf.file_id(snap)
        self._new_journal(previous)


def _header(path: Path) -> dict:
    return jf.read_header(path)

