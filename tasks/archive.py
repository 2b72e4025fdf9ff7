"""The archive by client: each order's folder (``<archive>/<client>/<year>/order-N/``: its originals and its
delivery packages), how much it holds, and how long it is kept.

Retention: an order's originals and deliveries are kept POSTLINE_RETENTION_YEARS after its last delivery
(an order never delivered is kept). :func:`expire` removes what is past that; the record keeps the order,
its photos' checksums and every event. Working files (POSTLINE_HOME/work) follow the revision window and are
not the archive's business (flows/housekeeping.py)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from config.settings import get_settings
from record import history, work
from record.db import transaction
from tasks.files import archive_dir, order_folder


@dataclass(frozen=True)
class ArchivedOrder:
    order_id: int
    client: str
    year: int
    status: str
    folder: Path
    originals: Path
    packages: tuple[Path, ...]
    bytes_held: int
    last_delivered: date | None

    @property
    def keep_until(self) -> date | None:
        """The day after which its originals and deliveries may go; None: kept (never delivered)."""
        if self.last_delivered is None:
            return None
        years = get_settings().retention_years
        try:
            return self.last_delivered.replace(year=self.last_delivered.year + years)
        except ValueError:                                   # 29 February, and the year it reaches is not leap
            return self.last_delivered.replace(year=self.last_delivered.year + years, day=28)

    def expired(self, today: date) -> bool:
        return self.keep_until is not None and today > self.keep_until


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def listing(client: str | None = None) -> list[ArchivedOrder]:
    """Every order in the archive (those whose client's name holds ``client``, any case), by client, year, order."""
    with transaction() as session:
        orders = work.orders(session)
        delivered = history.last_delivered(session)
    out = []
    for order in orders:
        if client and client.casefold() not in order.client.casefold():
            continue
        folder = order_folder(order.id, order.client, order.created_at.year)
        originals = archive_dir(order.id)
        packages = tuple(sorted(folder.glob("delivery*"))) if folder.is_dir() else ()   # folders, download ZIPs
        when = delivered.get(order.id)
        out.append(ArchivedOrder(order.id, order.client, order.created_at.year, order.status.value, folder, originals,
                                 packages, _size(originals) + sum(_size(p) for p in packages),
                                 when.replace(tzinfo=UTC).date() if when else None))
    return sorted(out, key=lambda a: (a.client.casefold(), a.year, a.order_id))


def expire(*, apply: bool, today: date | None = None) -> list[ArchivedOrder]:
    """The orders past their retention that still hold files; with ``apply``, their originals and delivery
    packages are removed (the originals are read-only: their folder is writable, which is what removing needs)."""
    today = today or datetime.now(UTC).date()
    due = [a for a in listing() if a.expired(today) and a.bytes_held]
    if apply:
        for archived in due:
            for path in (archived.originals, *archived.packages):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.is_file():
                    path.unlink()
    return due
