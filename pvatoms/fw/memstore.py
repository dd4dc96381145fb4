"""An in-memory mongomock database with hash indexes and change tracking, for the embedded store.

mongomock answers every query by scanning the whole collection (and checks unique indexes with
another scan per write), so a FireWorks LaunchPad on it slows down as the store fills. Here each
collection keeps hash indexes on the fields queried by equality (built on first use, kept up to
date on every write), so ``find({"fw_id": 7})``, ``find_one({"nodes": 7})`` or a duplicate query
``{"spec._pvatoms_hash": h}`` look at the few matching documents only. The index narrows the
candidates; mongomock's own matcher still decides, so results are exactly mongomock's (same
documents, same natural order).

Every write (insert, update in place, replace, delete, drop) is recorded, so a transaction can
hand the documents it changed to the journal (:mod:`pvatoms.fw.journal`) instead of rewriting the
store, and other processes apply them to their own copy.

The layout of :func:`dump` is that of mongomock-persistence (FireWorks' serverless mode):
``{db: {collection: {"name": collection, "documents": [[_id, document], ...]}}}``.
"""

from __future__ import annotations

import collections
import datetime

import mongomock
from bson import ObjectId
from mongomock import DuplicateKeyError, OperationFailure, filtering, helpers
from mongomock.collection import Collection, ReturnDocument, _validate_data_fields, validate_ok_for_replace
from mongomock.database import Database
from mongomock.filtering import filter_applies
from mongomock.store import CollectionStore, DatabaseStore, ServerStore
from mongomock.thread import RWLock

from pvatoms.fw.indexes import EqualityIndex, ReadyQueue, eq_values

#: Collections smaller than this are scanned (an index would not pay).
INDEX_MIN_DOCS = 32
#: At most this many indexes per collection (built on first use of a field in a query).
MAX_INDEXES = 24


def doc_key(doc_id):
    """The key of a document in its collection (mongomock's convention for dict ids)."""
    return helpers.hashdict(doc_id) if isinstance(doc_id, dict) else doc_id


class Changes:
    """What a transaction changed: ``{(db, collection, key): None}`` in first-change order and the
    collections dropped."""

    def __init__(self):
        self.keys: dict = {}
        self.dropped: list = []

    def __bool__(self) -> bool:
        return bool(self.keys or self.dropped)

    def clear(self) -> None:
        self.keys = {}
        self.dropped = []


class IndexedCollectionStore(CollectionStore):
    """mongomock's document store of one collection, with equality indexes, insertion numbers (the
    natural order) and change tracking."""

    def __init__(self, name, db_name="", changes: Changes | None = None):   # noqa: D107 (no super: it is patched by mongomock-persistence)
        self._documents = collections.OrderedDict()
        self.indexes = {}
        self._is_force_created = False
        self.name = name
        self._ttl_indexes = {}
        self._rwlock = RWLock()
        self.db_name = db_name
        self.changes = changes if changes is not None else Changes()
        self.seq: dict = {}
        self.next_seq = 0
        self.eq_indexes: dict[str, EqualityIndex] = {}
        self.queues: dict[tuple, ReadyQueue] = {}

    # -- writes (all of mongomock's go through these or through Collection._update) --
    def __setitem__(self, key, val):
        new = key not in self._documents
        with self._rwlock.writer():
            self._documents[key] = val
        if new:
            self.seq[key] = self.next_seq
            self.next_seq += 1
        self._index(key, val)
        self.changes.keys[(self.db_name, self.name, key)] = None

    def __delitem__(self, key):
        self._unindex(key)
        with self._rwlock.writer():
            del self._documents[key]
        self.seq.pop(key, None)
        self.changes.keys[(self.db_name, self.name, key)] = None

    def drop(self):
        self._documents = collections.OrderedDict()
        self.indexes = {}
        self._ttl_indexes = {}
        self._is_force_created = False
        self.seq = {}
        self.eq_indexes = {}
        self.queues = {}
        self.changes.dropped.append((self.db_name, self.name))

    def touched(self, doc, fields=None) -> None:
        """A document was changed in place (mongomock's update; or only its top-level ``fields``):
        re-index it, record the change."""
        key = doc_key(doc.get("_id"))
        if self._documents.get(key) is not doc:
            return
        if fields is None:
            self._index(key, doc)
        else:
            for idx in self.eq_indexes.values():
                if idx.parts[0] in fields:
                    idx.add(key, doc)
            for q in self.queues.values():
                if q.field in fields or q.sort_parts[0] in fields:
                    q.add(key, doc, self.seq[key])
        self.changes.keys[(self.db_name, self.name, key)] = None

    # -- used by the journal (no change tracking) --
    def load(self, key, doc) -> None:
        """Put ``doc`` under ``key`` (appended if new, in place otherwise), untracked."""
        if key not in self._documents:
            self.seq[key] = self.next_seq
            self.next_seq += 1
        self._documents[key] = doc
        self._index(key, doc)

    def unload(self, key) -> None:
        if key in self._documents:
            self._unindex(key)
            del self._documents[key]
            self.seq.pop(key, None)

    def apply_drop(self) -> None:
        """The collection was dropped (by another process): empty it, untracked."""
        self._documents = collections.OrderedDict()
        self.indexes = {}
        self._ttl_indexes = {}
        self.seq = {}
        for idx in self.eq_indexes.values():
            idx.__init__(".".join(idx.parts))
        for q in self.queues.values():
            q.clear()

    # -- indexes --
    def _index(self, key, doc) -> None:
        for idx in self.eq_indexes.values():
            idx.add(key, doc)
        for q in self.queues.values():
            q.add(key, doc, self.seq[key])

    def _unindex(self, key) -> None:
        for idx in self.eq_indexes.values():
            idx.remove(key)
        for q in self.queues.values():
            q.remove(key)

    def queue(self, field: str, value, sort_field: str) -> ReadyQueue:
        """The (kept up to date) :class:`~pvatoms.fw.indexes.ReadyQueue` of documents with ``field == value``."""
        q = self.queues.get((field, value, sort_field))
        if q is None:
            q = self.queues[(field, value, sort_field)] = ReadyQueue(field, value, sort_field)
            for key, doc in self._documents.items():
                q.add(key, doc, self.seq[key])
        return q

    def eq_index(self, path: str):
        """The equality index on ``path`` (built now if missing), or None when not worth it."""
        idx = self.eq_indexes.get(path)
        if idx is None:
            if len(self._documents) < INDEX_MIN_DOCS or len(self.eq_indexes) >= MAX_INDEXES or self._ttl_indexes:
                return None
            idx = self.eq_indexes[path] = EqualityIndex(path)
            for key, doc in self._documents.items():
                idx.add(key, doc)
        return idx

    def candidates(self, spec):
        """Keys (in natural order) of a superset of the documents matching ``spec``, or None when
        no index applies."""
        if not isinstance(spec, dict) or len(self._documents) < INDEX_MIN_DOCS:
            return None
        best = None
        for field, cond in spec.items():
            if not isinstance(field, str) or field.startswith("$"):
                continue
            values = eq_values(cond)
            if values is None:
                continue
            idx = self.eq_index(field)
            if idx is None:
                continue
            keys = idx.candidates(values)
            if best is None or len(keys) < len(best):
                best = keys
                if len(best) <= 1:
                    break
        if best is None:
            return None
        return sorted(best, key=self.seq.__getitem__)

    def counts(self, path: str) -> dict | None:
        """``{value: number of documents}`` of a scalar field from its index (None if unindexed)."""
        idx = self.eq_index(path)
        if idx is None or idx.always:
            return None
        return {v: len(keys) for v, keys in idx.buckets.items() if v is not None}


_LEAVES = {str, int, float, bool, type(None), ObjectId, datetime.datetime, bytes}


def copy_document(obj):
    """A deep copy of a stored document (what mongomock hands out), faster than mongomock's own."""
    kind = type(obj)
    if kind in _LEAVES:
        return obj
    if kind is dict:
        return {k: (v if type(v) in _LEAVES else copy_document(v)) for k, v in obj.items()}
    if kind is list:
        return [(x if type(x) in _LEAVES else copy_document(x)) for x in obj]
    if isinstance(obj, dict):
        return {k: copy_document(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [copy_document(x) for x in obj]
    return _copy_leaf(obj)


def _copy_leaf(obj):
    import copy
    return copy.copy(obj)


def stored_copy(obj):
    """What mongomock stores for a value given to a write: a deep copy with datetimes made naive
    UTC at millisecond precision and tuples made lists (``patch_datetime_awareness_in_document``,
    in one pass)."""
    kind = type(obj)
    if kind is dict or isinstance(obj, dict):
        return {k: (v if type(v) in _PLAIN else stored_copy(v)) for k, v in obj.items()}
    if kind is list or isinstance(obj, (list, tuple)):
        return [(x if type(x) in _PLAIN else stored_copy(x)) for x in obj]
    return helpers.patch_datetime_awareness_in_document(obj)


_PLAIN = {str, int, float, bool, type(None), ObjectId, bytes}


_MISSING = object()


def _plain_inclusion(fields: dict) -> bool:
    """A projection including top-level fields only (``{"a": 1, "b": True}``, ``_id`` 0 or 1)."""
    named = False
    for k, v in fields.items():
        if not isinstance(k, str) or "." in k or k.startswith("$"):
            return False
        if k == "_id":
            if v not in (0, 1) or isinstance(v, float):
                return False
        elif v is True or (type(v) is int and v == 1):
            named = True
        else:
            return False
    return named


def _simple_update(update):
    """The top-level fields of an update made only of ``$set``/``$unset``/``$inc`` on plain field
    names (not ``_id``), else None."""
    if not isinstance(update, dict) or not update or set(update) - {"$set", "$unset", "$inc"}:
        return None
    fields = set()
    for op, args in update.items():
        if not isinstance(args, dict) or not args:
            return None
        for f, v in args.items():
            if not isinstance(f, str) or not f or "." in f or f.startswith("$") or "\0" in f or f == "_id":
                return None
            if op == "$inc" and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                return None
            if op == "$set" and isinstance(v, (set, tuple)):
                return None
            fields.add(f)
    return fields if sum(len(a) for a in update.values()) == len(fields) else None


class IndexedDatabaseStore(DatabaseStore):
    def __init__(self, name="", changes: Changes | None = None):   # noqa: D107
        self._collections = {}
        self.name = name
        self.changes = changes if changes is not None else Changes()

    def __getitem__(self, col_name):
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = IndexedCollectionStore(col_name, self.name, self.changes)
            return col

    def rename(self, name, new_name):
        raise NotImplementedError("renaming a collection is not supported by the embedded store")


class IndexedServerStore(ServerStore):
    """All databases of one embedded store, sharing one :class:`Changes` record."""

    def __init__(self):   # noqa: D107
        self._databases = {}
        self.changes = Changes()

    def __getitem__(self, db_name):
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = IndexedDatabaseStore(db_name, self.changes)
            return db

    def collection(self, db_name: str, name: str) -> IndexedCollectionStore:
        return self[db_name][name]


class IndexedCollection(Collection):
    """mongomock's Collection answering equality queries from the indexes."""

    _capture = None

    def _iter_documents(self, filter):
        store = self._store
        keys = store.candidates(filter) if isinstance(store, IndexedCollectionStore) else None
        if keys is None:
            docs = super()._iter_documents(filter)
        else:
            found = store._documents
            docs = (d for d in [found[k] for k in keys] if filter_applies(filter, d))
        if self._capture is None:
            return docs
        return self._captured(docs)

    def _captured(self, docs):
        for d in docs:
            self._capture.append(d)
            yield d

    def _update(self, spec, document, *args, **kwargs):
        # mongomock updates the stored documents in place: note which ones it visited
        outer, touched = self._capture, []
        self._capture = touched
        try:
            return super()._update(spec, document, *args, **kwargs)
        finally:
            self._capture = outer
            store = self._store
            if isinstance(store, IndexedCollectionStore):
                for d in touched:
                    store.touched(d)
            if outer is not None:
                outer.extend(touched)

    def find_one(self, filter=None, *args, **kwargs):
        # mongomock's find_one materialises (copies) every match; without sort or skip, the first
        # match is the answer, so copy that one only
        if filter is None:
            filter = {}
        if (isinstance(filter, dict) and len(args) <= 1 and set(kwargs) <= {"projection"}
                and not self.codec_options.tz_aware):
            projection = args[0] if args else kwargs.get("projection")
            spec = helpers.patch_datetime_awareness_in_document(filter)
            for doc in self._iter_documents(spec):
                return self._copy_only_fields(doc, projection, dict)
            return None
        return super().find_one(filter, *args, **kwargs)

    # FireWorks rewrites whole documents (a workflow: all its nodes, links and states) several
    # times per firework; mongomock copies such a document three to four times per call (the
    # answer, a rollback copy, the internal copy of the replacement). The two calls FireWorks
    # uses most are done here with one copy each; anything unusual goes to mongomock.
    def find_one_and_replace(self, filter, replacement, projection=None, sort=None, upsert=False,
                             return_document=ReturnDocument.BEFORE, **kwargs):
        old = self._fast_target(filter, sort, kwargs)
        if old is None or not isinstance(replacement, dict):
            return super().find_one_and_replace(filter, replacement, projection, sort, upsert,
                                                return_document, **kwargs)
        validate_ok_for_replace(replacement)
        _validate_data_fields(replacement)
        new = {"_id": old["_id"]}
        new.update(stored_copy(replacement))
        if new["_id"] != old["_id"]:
            raise OperationFailure(f"The _id field cannot be changed from {old['_id']} to {new['_id']}")
        key = doc_key(old["_id"])
        self._store[key] = new
        try:
            self._ensure_uniques(new)
        except DuplicateKeyError:
            self._store[key] = old
            raise
        if return_document is ReturnDocument.AFTER or kwargs.get("new"):
            return self._copy_only_fields(new, projection, dict)
        # the old document is no longer in the store: it can be handed out as it is
        return old if projection is None else self._copy_only_fields(old, projection, dict)

    def find_one_and_update(self, filter, update, projection=None, sort=None, upsert=False,
                            return_document=ReturnDocument.BEFORE, **kwargs):
        old = self._fast_target(filter, sort, kwargs)
        fields = _simple_update(update)
        uniques = {k for ix in self._store.indexes.values() if ix.get("unique") for k, _ in ix.get("key", ())}
        if old is None or fields is None or any(f.split(".")[0] in fields for f in uniques) or (
                "$inc" in update and not all(isinstance(old.get(f, 0), (int, float)) and not isinstance(old.get(f, 0), bool)
                                             for f in update["$inc"])):
            return super().find_one_and_update(filter, update, projection, sort, upsert, return_document, **kwargs)
        after = return_document is ReturnDocument.AFTER or kwargs.get("new")
        before = None if after else self._copy_only_fields(old, projection, dict)
        for op, args in update.items():
            for f, v in args.items():
                if op == "$set":
                    old[f] = stored_copy(v)
                elif op == "$unset":
                    old.pop(f, None)
                else:
                    old[f] = old.get(f, 0) + v
        self._store.touched(old, fields)
        return self._copy_only_fields(old, projection, dict) if after else before

    def _copy_only_fields(self, doc, fields, container):
        if container is dict:
            if fields is None or (not fields and isinstance(fields, (dict, list))):
                return copy_document(doc)
            if isinstance(fields, dict) and _plain_inclusion(fields):
                # what mongomock's projection gives: the included top-level fields in the
                # document's order, then _id unless excluded
                out = {k: copy_document(v) for k, v in doc.items() if k in fields and k != "_id"}
                if fields.get("_id", 1) != 0 and "_id" in doc:
                    out["_id"] = doc["_id"]
                return out
        return super()._copy_only_fields(doc, fields, container)

    def _get_dataset(self, spec, sort, fields, as_class):
        # mongomock sorts through a Python comparison object per pair; a sort on a top-level
        # field holding only numbers (or only strings) gives the same order with plain keys
        if not sort or not all(isinstance(k, str) and not k.startswith("$") and "." not in k
                               for k, _ in (sort.items() if isinstance(sort, dict) else sort)):
            yield from super()._get_dataset(spec, sort, fields, as_class)
            return
        docs = list(self._iter_documents(spec))
        for key, direction in reversed(list(sort.items() if isinstance(sort, dict) else sort)):
            values = [d.get(key, _MISSING) for d in docs]
            kinds = {type(v) for v in values}
            if (kinds <= {int, float} and all(v == v for v in values)) or kinds == {str}:
                order = sorted(range(len(docs)), key=values.__getitem__, reverse=direction < 0)
                docs = [docs[i] for i in order]
            else:
                docs = sorted(docs, key=lambda x, k=key: filtering.resolve_sort_key(k, x), reverse=direction < 0)
        for doc in docs:
            yield self._copy_only_fields(doc, fields, as_class)

    def _fast_target(self, filter, sort, kwargs):
        """The stored document a single-document operation works on, when the fast path applies."""
        if (sort is not None or set(kwargs) - {"new"} or not isinstance(filter, dict) or self.codec_options.tz_aware
                or not isinstance(self._store, IndexedCollectionStore)):
            return None
        for doc in self._iter_documents(helpers.patch_datetime_awareness_in_document(filter)):
            return doc
        return None

    def with_options(self, codec_options=None, read_preference=None, write_concern=None, read_concern=None):
        coll = super().with_options(codec_options, read_preference, write_concern, read_concern)
        if coll is self or type(coll) is type(self):
            return coll
        return type(self)(coll.database, coll.name, write_concern=coll._write_concern,
                          read_concern=coll._read_concern, read_preference=coll._read_preference,
                          codec_options=coll._codec_options, _db_store=coll._db_store)


class IndexedDatabase(Database):
    def get_collection(self, name, codec_options=None, read_preference=None, write_concern=None,
                       read_concern=None):
        if name not in self._collection_accesses:
            self._ensure_valid_collection_name(name)
            self._collection_accesses[name] = IndexedCollection(
                self, name=name, read_concern=read_concern, write_concern=write_concern,
                read_preference=read_preference or self.read_preference,
                codec_options=codec_options or self._codec_options, _db_store=self._store)
        return super().get_collection(name, codec_options, read_preference, write_concern, read_concern)


class IndexedClient(mongomock.MongoClient):
    """A mongomock client on an :class:`IndexedServerStore`."""

    def __init__(self, server: IndexedServerStore):
        super().__init__(_store=server)

    def get_database(self, name=None, codec_options=None, read_preference=None, write_concern=None,
                     read_concern=None):
        if name is not None and name not in self._database_accesses:
            self._database_accesses[name] = IndexedDatabase(
                self, name, read_preference=read_preference or self.read_preference,
                codec_options=codec_options or self._codec_options, _store=self._store[name],
                read_concern=read_concern)
        return super().get_database(name, codec_options, read_preference, write_concern, read_concern)


def dump(server: IndexedServerStore) -> dict:
    """The whole store as mongomock-persistence's layout (JSON-able with ``bson.json_util``)."""
    return {db_name: {name: {"name": name, "documents": list(col._documents.items())}
                      for name, col in db._collections.items()}
            for db_name, db in server._databases.items()}


def load(data: dict) -> IndexedServerStore:
    """An :class:`IndexedServerStore` from :func:`dump`'s layout (checked by the caller)."""
    server = IndexedServerStore()
    for db_name, cols in data.items():
        db = server[db_name]
        for name, col in cols.items():
            store = db[name]
            for key, doc in col.get("documents", []):
                store.load(doc_key(key), doc)
    server.changes.clear()
    return server
