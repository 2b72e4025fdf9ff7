"""Which failures are a file's fault and which the machine's (the tree of exceptions is config/errors.py).

A :class:`Permanent` error is about one photo's file (corrupt, truncated, not a photo): that photo stops with
the message as its reason and the order goes on. A :class:`Retryable` one is about the machine: a full disk,
a permission, an I/O error, a busy or unreachable production record. Those are never a photo's fault, so no
photo is marked for them: the photo keeps its state, Prefect retries the task (``retry_condition_fn``), and
when retrying does not help the run stops with a message that says what to fix and to run the order again.

Reasons are shown to the client (the delivery's manifest, the web page): they name the file and describe the
problem in postline's words, never quoting an exception's text about the file's content."""

from __future__ import annotations

import errno
import getpass
import math
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy.exc


from config.errors import Permanent, PostlineError, Retryable  # noqa: F401  (the tree's root, config/errors.py)


class PhotoError(Permanent):
    """One photo cannot go on; the message names the file and what to do."""


class OutOfSpace(Retryable):
    """No space (or quota) left where postline writes."""


class NoPermission(Retryable):
    """A folder or disk postline needs is not readable/writable for it (or is mounted read-only)."""


class DiskError(Retryable):
    """The disk (or network share) answered with an I/O error."""


class RecordUnavailable(Retryable):
    """The production record is locked, unreachable, or its own disk failed."""


SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
PERMISSION = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
IO = frozenset({errno.EIO})
MB = 1 << 20


def retry_only_retryable(task, task_run, state) -> bool:  # noqa: ANN001  (Prefect's retry_condition_fn signature)
    """Retry a task that failed on the machine: a :class:`Retryable` error, or one whose cause is (a database
    error raised before a batch's own mapping could name it: a restarting PostgreSQL refused the retry's first
    query, and the run stopped with two retries left)."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001
        return transient_cause(exc) is not None
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from or while handling (a PhotoError wrapping an OSError, ...)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def transient_cause(exc: BaseException) -> BaseException | None:
    """The machine's failure behind ``exc`` (an OSError of space, permission or I/O, a database error), or
    None when ``exc`` is about the file itself or a bug."""
    for link in _chain(exc):
        if isinstance(link, Retryable):
            return link
        if isinstance(link, OSError) and link.errno in SPACE | PERMISSION | IO:
            return link
        if isinstance(link, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError, sqlite3.OperationalError)):
            return link
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return link
    return None


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    try:
        while not path.exists() and path != path.parent:
            path = path.parent
        device = path.stat().st_dev
        while path != path.parent and path.parent.stat().st_dev == device:
            path = path.parent
    except OSError:  # a folder above that cannot be looked at: name the folder itself
        pass
    return path


def _label(folder: Path) -> str:
    """How the studio knows the folder: POSTLINE_HOME/work, the card folder, ..."""
    from config.settings import get_settings

    try:
        return "POSTLINE_HOME/" + Path(os.path.abspath(folder)).relative_to(get_settings().home).parts[0]
    except (ValueError, IndexError):
        return str(folder)


def _free_bytes(folder: Path) -> int:
    path = mount_point(folder)
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _again(order_id: int) -> str:
    return (f"run `postline order run {order_id}` again: nothing is lost, every photo kept its place in the line "
            "and finished work is not redone")


def as_retryable(exc: BaseException, *, order_id: int, folder: Path,
                 needed: Callable[[], int] | None = None) -> Retryable | None:
    """The :class:`Retryable` error ``exc`` amounts to, with the message a studio acts on; None when ``exc`` is
    not a transient failure (the file is bad, or a bug). ``folder``: where the task was reading or writing
    (named in the message unless the error names its own file); ``needed()``: the bytes the rest of the
    order still writes there, for the "free at least N MB" advice."""
    cause = transient_cause(exc)
    if cause is None:
        return None
    if isinstance(cause, Retryable):
        return cause
    if not isinstance(cause, OSError):
        return _record_error(cause, order_id)
    filename = cause.filename if isinstance(cause.filename, str) and os.path.isabs(cause.filename) else None
    if filename:
        folder = Path(filename).parent
    label = _label(folder)
    where = f"{mount_point(folder)} ({label}, {folder})" if label != str(folder) else f"{mount_point(folder)} ({folder})"
    if cause.errno in SPACE:
        quota = " of your quota" if cause.errno == errno.EDQUOT else ""
        try:
            wanted = max((needed() if needed else 0) - _free_bytes(folder), MB)
            amount = f"at least {math.ceil(wanted / MB)} MB{quota}"
        except Exception:  # noqa: BLE001 - the estimate is advice; without it, still say where
            amount = f"space{quota}"
        what = "Disk quota exceeded" if cause.errno == errno.EDQUOT else "No space left"
        return OutOfSpace(f"{what} on {where}: free {amount} there and {_again(order_id)}.")
    if cause.errno == errno.EROFS:
        return NoPermission(f"{where} is mounted read-only: make it writable and {_again(order_id)}.")
    if cause.errno in PERMISSION:
        return NoPermission(f"Permission denied on {where}: let the user running postline ({getpass.getuser()}) "
                            f"read and write there, and {_again(order_id)}.")
    return DiskError(f"I/O error on {where}: check the disk or network share (and its cable), and "
                     f"{_again(order_id)}.")


def _record_error(cause: BaseException, order_id: int) -> RecordUnavailable:
    from config.settings import get_settings, url_without_password
    from sqlalchemy.engine import make_url

    url = make_url(get_settings().db_url)
    place = url.database if url.get_backend_name() == "sqlite" else url_without_password(get_settings().db_url)
    original = getattr(cause, "orig", None) or cause
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0][:200]
    lowered = detail.lower()
    if "locked" in lowered or "busy" in lowered:
        todo = "another program holds it: let it finish (or stop it)"
    elif "full" in lowered:
        todo = f"free space on {mount_point(Path(place)) if url.get_backend_name() == 'sqlite' else 'its disk'}"
    elif "i/o" in lowered or "disk" in lowered:
        todo = "check the disk it is on"
    else:
        todo = "check that the database is up and reachable from this machine"
    return RecordUnavailable(f"The production record ({place}) is unavailable ({detail}): {todo}, and "
                             f"{_again(order_id)}.")


def photo_reason(exc: BaseException, name: str, *, stored_name: str | None = None) -> str:
    """The reason a photo stopped, for the record and the client: a :class:`PhotoError`'s own message (postline's
    words, with the work file's name replaced by the card's); anything else by its kind only, since an
    exception's text can quote the file's bytes. The full exception belongs in the run's log."""
    if isinstance(exc, PhotoError):
        message = str(exc)
        if stored_name:
            message = message.replace(stored_name, name)
        return message if name in message else f"{name}: {message}"
    return (f"{name}: could not be processed ({type(exc).__name__}); the run's log has the details. "
            "Tell the lead; the rest of the order goes on.")
