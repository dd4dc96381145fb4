"""Damage and recovery of the embedded store (:mod:`pvatoms.fw.store`).

Every transaction checks the files it reads (the snapshot's JSON and layout, its id counters, the
journal's records and their order). Anything that does not check out stops the transaction with a
:class:`StoreDamaged` (an InputError) that names the file and the problem and says how to recover;
nothing is changed, nothing is reset. What ``recover`` can restore, best first:

1. a sound snapshot and the journal up to its first unreadable record;
2. the backup (``backup/launchpad.json`` and ``backup/journal.bin``: the state at the last
   compaction) followed by the current journal: everything committed, when only the snapshot is hurt;
3. the store as it was before its conversion to the journal format (``backup/launchpad-v1.json``);
4. a snapshot whose only fault is its id counters, with counters rebuilt from the ids it holds.

``recover`` and ``reset`` first copy the damaged (or old) files into ``STORE/damaged-<time>/`` (or
``reset-<time>/``), then replace the store's files atomically; nothing is ever deleted, and a crash
in between leaves the old store or the new one. From the command line:
``pvatoms fw --store PATH check | recover | reset --yes``.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

from pvatoms.errors import InputError
from pvatoms.fw import journal as jf
from pvatoms.fw import memstore


class StoreDamaged(InputError):
    """The store's files cannot be used as they are; the message says how to recover."""


def damaged(store, damage: jf.Damage) -> StoreDamaged:
    """The error for ``damage`` found in ``store``, with the way out."""
    head = (f"the store {store.path} is damaged: {damage.what} {damage.detail}. Nothing was changed.")
    try:
        found = best_state(store)
    except Exception as exc:   # the report must not fail on a second problem
        found = None
        head += f" (looking for a good copy failed too: {exc})"
    cmd = f"pvatoms fw --store {store.path}"
    if found is not None:
        _, info = found
        return StoreDamaged(f"{head} A good copy exists: `{cmd} recover` restores {info['source']} "
                            f"({_counts(info)}; last change {info['when']}) and keeps the damaged files in "
                            f"{store.path}/damaged-<time>/.")
    return StoreDamaged(f"{head} No good copy is kept (no backup, no readable journal): put back a copy of "
                        f"launchpad.json of your own, or start an empty store with `{cmd} reset --yes` "
                        f"(the damaged files are kept in {store.path}/reset-<time>/).")


def _counts(info: dict) -> str:
    return f"{info['fireworks']} fireworks, {info['workflows']} workflows, {info['launches']} launches"


def _when(t) -> str:
    if t is None:
        return "unknown"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _chain(data: dict, journals: list[Path], notes: list, written=None) -> tuple:
    """Apply the journals that follow ``data`` (in order); returns (server, generation, seq, time
    of the last change). Stops at the first unreadable record or at a journal that does not follow."""
    meta = jf.check_state(data)
    server = memstore.load(data)
    gen, seq = meta.get("generation", 0), meta.get("seq", 0)
    last = _meta_time(meta) or written
    for path in journals:
        if not path.exists():
            break
        try:
            head = jf.read_header(path)
        except jf.Damage as exc:
            notes.append(f"{path.name} {exc.detail}")
            break
        if head["generation"] < gen:
            continue                                 # older than the snapshot: already in it
        if head["generation"] > gen:
            cont = head.get("continues") or {}
            if cont.get("generation") != gen or cont.get("seq") != seq:
                break
            gen = head["generation"]
        try:
            records, bad = jf.read_journal(path, head["_end"]).records, None
        except jf.JournalDamage as exc:
            records, bad = exc.good, exc
        for rec in records:
            if rec.get("kind") != "txn" or rec.get("seq") != seq + 1:
                bad = bad or jf.JournalDamage(path, -1, f"record {rec.get('seq')} out of order")
                break
            jf.apply_record(server, rec)
            seq, last = rec["seq"], rec.get("time", last)
        if bad is not None:
            notes.append(f"{path.name}: {bad.reason}; the records after it are lost")
            break
    server.changes.clear()
    return server, gen, seq, last


def _meta_time(meta: dict):
    w = meta.get("written")
    return w.replace(tzinfo=datetime.timezone.utc).timestamp() if isinstance(w, datetime.datetime) else None


def _repair_counters(data: dict) -> bool:
    """Rebuild missing or behind id counters from the ids held; True if anything was changed."""
    db = data.get(jf.DB) if isinstance(data, dict) else None
    if not isinstance(db, dict):
        return False

    def top(cname, key):
        ids = [d.get(key) for _, d in db.get(cname, {}).get("documents", []) if isinstance(d.get(key), int)]
        return max(ids, default=0)
    col = db.setdefault("fw_id_assigner", {"name": "fw_id_assigner", "documents": []})
    docs = [d for _, d in col.get("documents", []) if isinstance(d, dict)]
    cur = docs[0] if len(docs) == 1 else {}
    want = {"next_fw_id": max(top("fireworks", "fw_id") + 1, cur.get("next_fw_id") or 0),
            "next_launch_id": max(top("launches", "launch_id") + 1, cur.get("next_launch_id") or 0)}
    if all(isinstance(cur.get(k), int) and cur[k] >= v for k, v in want.items()):
        return False
    from bson import ObjectId
    doc = {"_id": cur.get("_id", ObjectId()), **want}
    col["documents"] = [[doc["_id"], doc]]
    return True


def _candidates(store):
    """(description, snapshot path, journals, repair) to try, best first."""
    b = store.backup
    yield ("the snapshot and the readable part of the journal", store.file, [store.journal], False)
    yield ("the last good snapshot (backup) and the journals", b / jf.SNAPSHOT, [b / jf.JOURNAL, store.journal], False)
    yield ("the backup snapshot alone", b / jf.SNAPSHOT, [], False)
    yield ("the store as it was before its conversion (backup/launchpad-v1.json)", b / "launchpad-v1.json", [], False)
    yield ("the snapshot and journal with rebuilt id counters", store.file, [store.journal], True)


def best_state(store):
    """The best state that can be rebuilt from the files: (server, info) or None."""
    for source, snap, journals, repair in _candidates(store):
        if not snap.exists():
            continue
        try:
            data = jf.read_snapshot(snap, check=not repair)
            if repair and not _repair_counters(data):
                continue
            notes: list = []
            server, gen, seq, last = _chain(data, journals, notes, snap.stat().st_mtime)
            jf.check_state(memstore.dump(server))
        except Exception:          # this copy does not give a sound store: try the next
            continue
        db = server[jf.DB]
        info = {"source": source + (f" ({'; '.join(notes)})" if notes else ""),
                "generation": gen, "seq": seq, "when": _when(last),
                "fireworks": len(db["fireworks"]), "workflows": len(db["workflows"]),
                "launches": len(db["launches"])}
        return server, info
    return None


def _known_position(store) -> tuple[int, int]:
    """The largest generation and transaction number found in the store's files (0, 0 if none)."""
    gen = seq = 0
    for snap in (store.file, store.backup / jf.SNAPSHOT):
        try:
            meta = jf.check_state(jf.read_snapshot(snap, check=False))
            gen, seq = max(gen, meta.get("generation", 0)), max(seq, meta.get("seq", 0))
        except Exception:
            pass
    for path in (store.journal, store.backup / jf.JOURNAL):
        try:
            head = jf.read_header(path)
            gen = max(gen, head["generation"])
            records = jf.read_journal(path, head["_end"]).records
        except jf.JournalDamage as exc:
            records = exc.good
        except Exception:
            continue
        seq = max([seq] + [r.get("seq", 0) for r in records])
    return gen, seq


def _keep(store, kind: str, copy=(), move=()) -> Path:
    """``STORE/<kind>-<time>/`` holding copies of the files ``copy`` and the files ``move`` (moved:
    the store keeps working without them)."""
    import shutil
    keep = store.path / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    keep.mkdir()
    for name in copy:
        if (store.path / name).exists():
            shutil.copy2(store.path / name, keep / name)
    for name in move:
        src = store.path / name
        if src.exists():
            os.replace(src, keep / name)
    jf.fsync_dir(keep)
    jf.fsync_dir(store.path)
    return keep


def _write_new(store, server, gen: int, seq: int, backup: bool = True) -> None:
    """Write ``server`` as the store's snapshot of generation ``gen + 1``, transaction ``seq + 1``,
    with a fresh journal (other processes reload it); each file is replaced atomically."""
    from pvatoms.fw.store import _forget, _launchpad_on, _Replica
    rep = _Replica(store)
    rep.server, rep.lp = server, _launchpad_on(server)
    rep.generation, rep.seq = gen, seq + 1
    rep.compact(chain=False, backup=backup)
    _forget(store)


def recover(store) -> dict:
    """Rebuild the store from the best good copy (see the module's docstring); the damaged files
    go to ``STORE/damaged-<time>/``. A sound store is left as it is."""
    with store.locked():
        if not store.exists():
            raise InputError(f"there is no store in {store.path}: nothing to recover")
        problem = _problem(store)
        if problem is None:
            return {"store": str(store.path), "recovered": False, "message": "the store is sound: nothing to recover"}
        found = best_state(store)
        if found is None:
            raise InputError(f"the store {store.path} is damaged ({problem}) and no good copy is kept: put back "
                             f"a launchpad.json of your own, or start an empty store with "
                             f"`pvatoms fw --store {store.path} reset --yes`")
        server, info = found
        gen, seq = _known_position(store)
        keep = _keep(store, "damaged", copy=[jf.SNAPSHOT, jf.JOURNAL])
        _write_new(store, server, max(gen, info["generation"]), max(seq, info["seq"]), backup=False)
    return {"store": str(store.path), "recovered": True, "problem": problem, "kept": str(keep), **info}


def reset(store, confirm: bool = False) -> dict:
    """Start an empty store. Only with ``confirm``; the old files go to ``STORE/reset-<time>/``."""
    if not confirm:
        raise InputError(f"reset empties the store {store.path} (every workflow, firework and launch): "
                         "confirm with --yes; the old files are kept in a reset-<time>/ folder beside them")
    from pvatoms.fw.store import _fresh_launchpad
    with store.locked():
        gen, seq = _known_position(store)
        keep = _keep(store, "reset", copy=[jf.SNAPSHOT, jf.JOURNAL], move=[jf.BACKUP])
        server, _ = _fresh_launchpad()
        _write_new(store, server, gen, seq, backup=False)
    return {"store": str(store.path), "reset": True, "kept": str(keep)}


def _problem(store) -> str | None:
    """What is wrong with the store's files (None: sound)."""
    from pvatoms.fw.store import _Replica
    rep = _Replica(store)
    try:
        rep._sync()
        rep._check_counters()
    except jf.Damage as exc:
        return f"{exc.what} {exc.detail}"
    except jf.JournalDamage as exc:
        return f"{jf.JOURNAL}: {exc.reason} at byte {exc.offset}"
    return None


def check(store) -> dict:
    """Whether the store is sound, and what it holds."""
    out = {"store": str(store.path), "exists": store.exists()}
    if not out["exists"]:
        return {**out, "sound": True, "problem": None}
    with store.locked(shared=True):
        problem = _problem(store)
        out.update(sound=problem is None, problem=problem)
        for name, path in (("snapshot_bytes", store.file), ("journal_bytes", store.journal)):
            st = jf.stat_or_none(path)
            out[name] = st.st_size if st else None
        out["backup"] = (store.backup / jf.SNAPSHOT).exists()
        found = best_state(store) if problem else None
        if problem is None:
            from pvatoms.fw.store import _Replica
            rep = _Replica(store)
            rep._sync()
            db = rep.server[jf.DB]
            out.update(generation=rep.generation, seq=rep.seq, fireworks=len(db["fireworks"]),
                       workflows=len(db["workflows"]), launches=len(db["launches"]))
        elif found is not None:
            out["recoverable"] = found[1]
    return out
