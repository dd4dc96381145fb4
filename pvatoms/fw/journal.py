"""The files of the embedded store: the snapshot (``launchpad.json``) and the journal (``journal.bin``).

- ``launchpad.json``: the whole store at some point (mongomock-persistence's JSON layout, readable
  by FireWorks' serverless mode), replaced atomically (temporary file, fsync, rename). Its
  ``pvatoms_store`` collection says which generation it is and which journal record it includes.
- ``journal.bin``: what changed since, one record per committed transaction, appended and fsynced
  under the store's lock. Each record is ``b"PVJ1"``, the payload length and CRC-32 (little-endian
  uint32 each) and the payload, a BSON document: first a header ``{"kind": "header", "generation",
  "continues", "snapshot"}``, then ``{"kind": "txn", "seq", "time", "pid", "host", "ops"}`` where
  ``ops`` are ``{"o": "put", "db", "c", "doc"}`` (the whole document after the transaction),
  ``{"o": "del", "db", "c", "id"}`` and ``{"o": "drop", "db", "c"}``.

A record cut short by a crash (the last one, never acknowledged) is ignored and cut off by the next
writer; any other unreadable record is damage (:class:`JournalDamage`).
"""

from __future__ import annotations

import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import bson
from bson.codec_options import CodecOptions

SNAPSHOT = "launchpad.json"
JOURNAL = "journal.bin"
BACKUP = "backup"
META = "pvatoms_store"          # collection of the snapshot's own record
DB = "pvatoms"                  # the LaunchPad's database
FORMAT = 2
MAGIC = b"PVJ1"
_HEAD = struct.Struct("<4sII")
_CODEC = CodecOptions(document_class=dict, tz_aware=False)


class JournalDamage(Exception):
    """A journal record that is not the torn last one cannot be read."""

    def __init__(self, path, offset, reason, good: list | None = None):
        super().__init__(f"{path}: record at byte {offset}: {reason}")
        self.path, self.offset, self.reason = path, offset, reason
        self.good = good or []


def encode_record(payload: dict) -> bytes:
    body = bson.encode(payload)
    return _HEAD.pack(MAGIC, len(body), zlib.crc32(body)) + body


@dataclass
class JournalRead:
    """Records read from ``start`` on: ``records`` (decoded payloads), ``end`` (byte after the last
    good record), ``torn`` (bytes after ``end`` that are a cut-short last record)."""
    records: list = field(default_factory=list)
    end: int = 0
    torn: int = 0


def read_journal(path: Path, start: int = 0, size: int | None = None) -> JournalRead:
    """Read the journal from byte ``start`` (a record boundary) up to ``size`` bytes (default: the
    file's size now). Raises :class:`JournalDamage` for an unreadable record that is not the last."""
    out = JournalRead(end=start)
    with open(path, "rb") as fh:
        if size is None:
            size = os.fstat(fh.fileno()).st_size
        fh.seek(start)
        data = fh.read(max(0, size - start))
    pos = 0
    n = len(data)
    while pos < n:
        head = data[pos:pos + _HEAD.size]
        if len(head) < _HEAD.size:
            return _tail(out, data, pos, path, start, "cut short in its header")
        magic, length, crc = _HEAD.unpack(head)
        if magic != MAGIC:
            return _tail(out, data, pos, path, start, "no record marker")
        end = pos + _HEAD.size + length
        if end > n:
            return _tail(out, data, pos, path, start, "cut short")
        body = data[pos + _HEAD.size:end]
        if zlib.crc32(body) != crc:
            if end == n:
                return _tail(out, data, pos, path, start, "checksum")
            raise JournalDamage(path, start + pos, "checksum mismatch", out.records)
        try:
            out.records.append(bson.decode(body, codec_options=_CODEC))
        except Exception as exc:
            raise JournalDamage(path, start + pos, f"undecodable ({type(exc).__name__})", out.records) from None
        pos = end
        out.end = start + pos
    return out


def _tail(out: JournalRead, data: bytes, pos: int, path, start: int, reason: str) -> JournalRead:
    """Bytes at ``pos`` that do not form a record: the torn end of an interrupted append when
    nothing readable follows, else damage."""
    rest = data[pos:]
    if MAGIC in rest[1:]:       # more records follow: not a torn end
        raise JournalDamage(path, start + pos, f"{reason}, with records after it", out.records)
    out.torn = len(rest)
    return out


def header_record(generation: int, continues: dict | None, snapshot: dict | None) -> dict:
    return {"kind": "header", "format": FORMAT, "generation": generation, "continues": continues,
            "snapshot": snapshot, "time": time.time(), "host": socket.gethostname(), "pid": os.getpid()}


def txn_record(seq: int, ops: list) -> dict:
    return {"kind": "txn", "seq": seq, "time": time.time(), "pid": os.getpid(),
            "host": socket.gethostname(), "ops": ops}


def file_id(st) -> dict:
    """What identifies one version of a file that is only ever replaced, never edited."""
    return {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stat_or_none(path: Path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{socket.gethostname()}.tmp")


def write_temporary(path: Path, data: bytes) -> tuple[Path, os.stat_result]:
    """Write ``data`` to the temporary file beside ``path`` (fsynced); returns (its path, its stat).
    The caller renames it over ``path`` (or removes it)."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            st = os.fstat(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, st


def write_atomic(path: Path, data: bytes) -> os.stat_result:
    """Replace ``path`` by ``data`` atomically (temporary file, fsync, rename, fsync of the folder);
    returns the new file's stat."""
    tmp, st = write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return st


def append(path: Path, data: bytes, at: int) -> int:
    """Write ``data`` at byte ``at`` of ``path`` (cutting off anything after it: a torn record),
    fsync; returns the new end."""
    fd = os.open(path, os.O_WRONLY)
    try:
        if os.fstat(fd).st_size != at:
            os.ftruncate(fd, at)
        os.lseek(fd, at, os.SEEK_SET)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)   # the data and the new size
    finally:
        os.close(fd)
    return at + len(data)


def keep_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of ``src`` (a hard link where the file system allows; ``src`` is then
    replaced, never edited, so the two stay independent)."""
    tmp = tmp_name(dst)
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class Damage(Exception):
    """A store file that cannot be used: ``what`` (the file) and ``detail`` (what is wrong)."""

    def __init__(self, what: str, detail: str):
        super().__init__(f"{what}: {detail}")
        self.what, self.detail = what, detail


def read_snapshot(path: Path, check: bool = True) -> dict:
    """The snapshot's contents, checked (:func:`check_state`, unless not ``check``); :class:`Damage`
    if unusable."""
    import bson.json_util
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise Damage(name, "is missing") from None
    except OSError as exc:
        raise Damage(name, f"cannot be read ({exc.strerror})") from None
    if not raw.strip():
        raise Damage(name, f"is empty ({len(raw)} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Damage(name, f"is not text (binary data at byte {exc.start})") from None
    if "\x00" in text:
        raise Damage(name, f"is not text (NUL byte at character {text.index(chr(0))})")
    try:
        data = bson.json_util.loads(text, json_options=_JSON_IN)
    except Exception as exc:   # json.JSONDecodeError, bson errors on bad $-values
        raise Damage(name, f"is not valid JSON, cut short or overwritten ({exc})") from None
    if check:
        check_state(data, name)
    return data


def check_state(data, name: str = SNAPSHOT) -> dict:
    """Check the layout and the id counters of a whole store; returns its own record (``{}`` for a
    store of the first format). :class:`Damage` names the first problem found."""
    if not isinstance(data, dict):
        raise Damage(name, f"holds a JSON {type(data).__name__}, not a store")
    if not data:
        raise Damage(name, "holds no database at all (an empty '{}' store)")
    db = data.get(DB)
    if not isinstance(db, dict):
        raise Damage(name, f"has no {DB!r} database (databases: {', '.join(map(str, data)) or 'none'})")
    for cname, col in db.items():
        if not isinstance(col, dict) or not isinstance(col.get("documents"), list):
            raise Damage(name, f"collection {cname!r} is malformed (no document list)")
        for item in col["documents"]:
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], dict)
                    and "_id" in item[1]):
                raise Damage(name, f"collection {cname!r} holds a malformed document entry")
    counters = [d for _, d in db.get("fw_id_assigner", {}).get("documents", [])]
    if len(counters) != 1 or not all(isinstance(counters[0].get(k), int) for k in ("next_fw_id", "next_launch_id")):
        raise Damage(name, f"lacks the id counters (collection fw_id_assigner holds {len(counters)} valid "
                           "documents, expected 1 with next_fw_id and next_launch_id)")
    for cname, key, counter in (("fireworks", "fw_id", "next_fw_id"), ("launches", "launch_id", "next_launch_id")):
        ids = [d.get(key) for _, d in db.get(cname, {}).get("documents", []) if isinstance(d.get(key), int)]
        if ids and max(ids) >= counters[0][counter]:
            raise Damage(name, f"id counter {counter}={counters[0][counter]} is not above the largest {key} "
                               f"({max(ids)}): new {cname} would reuse ids")
    meta = [d for _, d in db.get(META, {}).get("documents", [])]
    if meta and not (isinstance(meta[0].get("generation"), int) and isinstance(meta[0].get("seq"), int)):
        raise Damage(name, f"its own record ({META}) is malformed")
    return meta[0] if meta else {}


def apply_record(server, rec: dict) -> None:
    """Apply one transaction record of the journal to an :class:`~pvatoms.fw.memstore.IndexedServerStore`."""
    from pvatoms.fw.memstore import doc_key
    for op in rec["ops"]:
        store = server.collection(op["db"], op["c"])
        kind = op["o"]
        if kind == "put":
            doc = op["doc"]
            key = doc_key(doc["_id"])
            if op.get("new"):
                store.unload(key)
            store.load(key, doc)
        elif kind == "del":
            store.unload(doc_key(op["id"]))
        elif kind == "drop":
            store.apply_drop()
        else:
            raise ValueError(f"unknown journal operation {kind!r}")


def _json_in():
    from bson.json_util import JSONOptions
    return JSONOptions(tz_aware=False)


_JSON_IN = _json_in()


def read_header(path: Path) -> dict:
    """The journal's first record (written atomically with the file), with ``_end``: its size."""
    name = path.name
    with open(path, "rb") as fh:
        head = fh.read(_HEAD.size)
        magic, length, crc = _HEAD.unpack(head) if len(head) == _HEAD.size else (b"", 0, 0)
        body = fh.read(length) if magic == MAGIC else b""
    if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
        raise Damage(name, "has no readable header record")
    try:
        rec = bson.decode(body, codec_options=_CODEC)
    except Exception:
        raise Damage(name, "has an undecodable header record") from None
    if rec.get("kind") != "header" or not isinstance(rec.get("generation"), int):
        raise Damage(name, "does not start with a header record")
    rec["_end"] = _HEAD.size + length
    return rec
