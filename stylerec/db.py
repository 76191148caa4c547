"""Raw SQL helpers shared by services (writes) and the ranker (reads): vectors in binary form.

Django's ``VectorField`` parses vectors from their text form (tens of microseconds per vector);
scoring a 200-product candidate pool that way costs more than the whole query. Here vectors
travel in pgvector's binary format straight into numpy, on a psycopg cursor of Django's own
connection (so it shares the transaction) whose adapters are local to that cursor.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

_VECTOR_OIDS: dict[tuple[str, str], int] = {}  # (host, database) -> oid of the vector type

# The database the ranker reads from while it serves a request (``reading_from``): the raw SQL here,
# the candidate querysets and the HNSW transaction all follow it. Unset, everything reads and writes
# the default database: pool builds, services, the lab.
_reading: ContextVar[str] = ContextVar("stylerec_reading_from", default=DEFAULT_DB_ALIAS)


@contextmanager
def reading_from(alias: str | None) -> Iterator[None]:
    """Serving reads inside this block go to the database ``alias`` (None: the default)."""
    token = _reading.set(alias or DEFAULT_DB_ALIAS)
    try:
        yield
    finally:
        _reading.reset(token)


def read_alias() -> str:
    """The database alias reads go to here (``reading_from``), the default one outside it."""
    return _reading.get()


class _NumpyVectorLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        dim = struct.unpack_from(">H", data, 0)[0]
        return np.frombuffer(data, dtype=">f4", count=dim, offset=4).astype(np.float32)


def _vector_oid() -> int:
    connection = connections[read_alias()]
    settings_dict = connection.settings_dict
    key = (str(settings_dict.get("HOST", "")), str(settings_dict["NAME"]))
    if key not in _VECTOR_OIDS:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'vector'::regtype::oid")
            _VECTOR_OIDS[key] = cursor.fetchone()[0]
    return _VECTOR_OIDS[key]


@contextmanager
def vector_cursor() -> Iterator[Any]:
    """A binary psycopg cursor on Django's connection that reads vectors as float32 arrays and
    takes numpy arrays as vector parameters."""
    oid = _vector_oid()
    connection = connections[read_alias()]
    connection.ensure_connection()

    class NumpyVectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: np.ndarray) -> bytes:
            vec = np.asarray(obj, dtype=">f4").ravel()
            return struct.pack(">HH", vec.size, 0) + vec.tobytes()

    NumpyVectorDumper.oid = oid
    # Django's connection makes client-side-binding cursors, which cannot read binary results.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.adapters.register_loader(oid, _NumpyVectorLoader)
        cursor.adapters.register_dumper(np.ndarray, NumpyVectorDumper)
        yield cursor


def rows_fetch(sql: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    with vector_cursor() as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def rows_fetch_many(
    queries: Sequence[tuple[str, Sequence[Any] | dict[str, Any]]],
) -> list[list[tuple[Any, ...]]]:
    """Several independent queries in one round trip (psycopg pipeline mode)."""
    if len(queries) == 1:
        return [rows_fetch(*queries[0])]
    with vector_cursor() as first:
        cursors = [first] + [psycopg.Cursor(first.connection) for _ in queries[1:]]
        for cursor in cursors[1:]:
            cursor.adapters.register_loader(_vector_oid(), _NumpyVectorLoader)
        with first.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, queries, strict=True):
                cursor.execute(sql, params, binary=True)
        results = [cursor.fetchall() for cursor in cursors]
        for cursor in cursors[1:]:
            cursor.close()
        return results


def product_table() -> tuple[str, str]:
    """Table and primary-key column of the (swappable) product model, for raw SQL."""
    from stylerec.models import get_product_model

    model = get_product_model()
    column = model._meta.pk.column
    assert column is not None, "a concrete model's primary key always has a database column"
    return model._meta.db_table, column


def unit(vector: Any) -> np.ndarray | None:
    """``vector`` as a float32 unit vector, or None when missing or zero."""
    if vector is None:
        return None
    vec = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else None
