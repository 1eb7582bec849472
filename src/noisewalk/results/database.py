"""A study's SQLite database where storage fails: transactions that end in one line
naming the database and the fix, and reading from read-only storage.

A database in WAL mode is normally read through its ``-shm`` (shared-memory index) file,
which a reader creates when it is missing. On read-only storage (a read-only mount, an
archive, a snapshot) it cannot, and SQLite refuses to open the database. There:

* without a write-ahead log (a study whose driver closed it: the usual case), nothing
  can change the file, so it is opened as immutable;
* with a log (a driver that died), the database and its log are copied to a temporary
  folder and read from there, so the log's transactions are seen too.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from noisewalk.errors import InvalidParameterError, storage_error


class _CopiedDatabase(sqlite3.Connection):
    """A connection to a temporary copy of a database, removed with the connection."""

    folder: str | None = None

    def close(self) -> None:
        super().close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _check(db: sqlite3.Connection) -> sqlite3.Connection:
    """``db`` once a first read succeeded; closed (its files let go) if it fails."""
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def connect_readonly(path: str | Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A read-only connection to the database ``path`` (see the module docstring).

    A file that is not a SQLite database raises :class:`InvalidParameterError`; one that
    cannot be read at all, a :class:`~noisewalk.errors.StorageError` naming it.
    """
    path = Path(path).resolve()
    uri = path.as_uri()
    try:
        return _check(sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout))
    except sqlite3.OperationalError as exc:
        first: sqlite3.Error = exc
    except sqlite3.DatabaseError as exc:
        raise InvalidParameterError(f"{path} is not a results store: {exc}") from None
    wal = path.with_name(path.name + "-wal")
    try:
        if not wal.exists() or wal.stat().st_size == 0:
            return _check(sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout))
        folder = tempfile.mkdtemp(prefix="noisewalk-store-")
        try:
            shutil.copyfile(path, Path(folder) / path.name)
            shutil.copyfile(wal, Path(folder) / wal.name)
            db = sqlite3.connect(Path(folder) / path.name, timeout=timeout, factory=_CopiedDatabase)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        db.folder = folder
        return _check(db)
    except (OSError, sqlite3.Error) as exc:
        cause = first if isinstance(exc, sqlite3.Error) else exc
        raise storage_error(path, cause, doing="read", fix="check that it exists and that you may read it") from None


@contextmanager
def transaction(db: sqlite3.Connection, path: str | Path) -> Iterator[None]:
    """One transaction on ``db`` (the database ``path``); a full disk, a lost quota or
    read-only storage end it as one :class:`~noisewalk.errors.StorageError` naming the
    database (nothing of the transaction is written)."""
    try:
        with db:
            yield
    except (OSError, sqlite3.OperationalError) as exc:
        then = "the trials finished so far are kept: run the same command again to continue"
        raise storage_error(path, exc, then=then) from None
