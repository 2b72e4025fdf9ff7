"""How long the ops report takes on a record of 10k, 100k and 1M stage events, on SQLite and PostgreSQL.

    python bench/report.py [--sizes 10000,100000,1000000] [--repeat 3] [--only sqlite|postgresql]

A synthetic year of work is written straight into a fresh record (COPY on PostgreSQL, executemany on SQLite):
orders of 40-400 photos spread over 2025-11-01..2026-10-31, each photo through ingest, grading (automatic),
skin and fine retouch (8 retouchers), layout (automatic), QC (about 12% sent back, with one to three reason
codes, to a random stage, which reruns from there) and delivery: about 20 events a photo, the kinds and
proportions of a real record. Then, timed (best of ``--repeat``; the record's engine warmed once first):

- ``year``: :func:`record.figures.report.build_report` over the whole record (every event in the period);
- ``month``: the same for October 2026 (what the monthly deployment runs);
- ``status``: the per-stage table of one order (`postline status N`).

The SQLite record gets ``ANALYZE`` after loading and PostgreSQL ``VACUUM ANALYZE`` (what autovacuum does to a
real one); ``--no-analyze`` leaves SQLite without statistics. PostgreSQL is a throwaway cluster (tests/pg.py).
The last line printed is JSON: ``sqlite_1m_s`` / ``postgres_1m_s`` are the year report on 1M events (wall time), with
the growth ratios (time at 10x the events over time before) and ``load_avg_1m``. ``*_cpu_s`` is the CPU time this
process spent on it (best of the runs): on SQLite that is all the work (the database runs in the process), so on a
machine shared with other work it says what the report costs when the wall time is stretched by the load; on
PostgreSQL the server's CPU is not in it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402

STAGES = [("cull_grade", "postline-auto"), ("liquify_skin", None), ("fine_retouch", None),
          ("design_layout", "postline-auto")]
PEOPLE = [f"r{i}" for i in range(8)]
REASONS = ["clipped", "colour_cast", "over_smoothed_skin", "look_lost", "soft", "wrong_crop", "skin_tone"]
START = datetime(2025, 11, 1, 8, 0)
EVENT_COLUMNS = ("id", "order_id", "photo_id", "work_item_id", "stage", "round", "kind", "actor", "reason",
                 "blamed_stage", "seconds", "at", "queued_at")


class Record:
    """The rows of a synthetic record, in the order their ids run."""

    def __init__(self, events: int, seed: int = 7):
        self.rng = random.Random(seed)
        self.orders, self.photos, self.items, self.events, self.reasons = [], [], [], [], []
        while len(self.events) < events:
            self._order()

    def _event(self, order, photo, item, stage, rnd, kind, actor, at, reason=None, blamed=None, seconds=None,
               queued=None):
        self.events.append((len(self.events) + 1, order, photo, item, stage, rnd, kind, actor, reason, blamed,
                            seconds, at, queued))
        return len(self.events)

    def _item(self, order, photo, stage, rnd, status, who, at):
        self.items.append((len(self.items) + 1, order, photo, stage, rnd, status, who, 1, at, at))
        return len(self.items)

    def _pass(self, order, photo, stage, rnd, who, at):
        """Queue, claim and hand back one photo in one stage; the time it is done."""
        people = who is None
        actor = self.rng.choice(PEOPLE) if people else who
        claim = at + timedelta(seconds=self.rng.randint(60, 4 * 3600) if people else self.rng.randint(5, 120))
        seconds = self.rng.uniform(300, 2400) if people else self.rng.uniform(0.5, 4)
        done = claim + timedelta(seconds=seconds)
        item = self._item(order, photo, stage, rnd, "submitted", actor, done)
        self._event(order, photo, item, stage, rnd, "enqueued", "postline-auto", at)
        self._event(order, photo, item, stage, rnd, "claimed", actor, claim, seconds=(claim - at).total_seconds(),
                    queued=at)
        self._event(order, photo, item, stage, rnd, "submitted", actor, done, seconds=seconds)
        return done

    def _order(self):
        order = len(self.orders) + 1
        came = START + timedelta(minutes=self.rng.randint(0, 364 * 24 * 60))
        self.orders.append((order, f"client {order % 97}", self.rng.choice(["wedding", "portrait", "children"]),
                            self.rng.choice(["bright-wedding", "classic-portrait", "warm-children"]),
                            (came + timedelta(days=self.rng.randint(20, 45))).date(), "/card", "delivered",
                            self.rng.choice([0, 0, 1, 2]), False, False, False, came, came))
        delivered_at, mine = came, []
        for _ in range(self.rng.randint(40, 400)):
            photo = len(self.photos) + 1
            mine.append(photo)
            self.photos.append((photo, order, f"IMG_{photo}.CR3", f"{photo:064x}", 1, "delivered", came))
            at = came + timedelta(seconds=self.rng.randint(0, 600))
            self._event(order, photo, None, "ingest", 1, "ingested", "postline-auto", at)
            rnd, first = 1, 0
            while True:
                for stage, who in STAGES[first:]:
                    at = self._pass(order, photo, stage, rnd, who, at + timedelta(hours=self.rng.uniform(0, 30)))
                decided = at + timedelta(hours=self.rng.uniform(0.1, 24))
                status = "rejected" if rnd == 1 and self.rng.random() < 0.12 else "passed"
                gate = self._item(order, photo, "qc_gate", rnd, status, "postline-auto", decided)
                self._event(order, photo, gate, "qc_gate", rnd, "enqueued", "postline-auto", at)
                self._event(order, photo, gate, "qc_gate", rnd, "claimed", "postline-auto", decided,
                            seconds=(decided - at).total_seconds(), queued=at)
                if status == "passed":
                    self._event(order, photo, gate, "qc_gate", rnd, "passed", "postline-auto", decided)
                    self._event(order, photo, None, "qc_gate", rnd, "passed", "postline-auto", decided)
                    break
                first = self.rng.randrange(len(STAGES))
                codes = self.rng.sample(REASONS, self.rng.choice([1, 1, 1, 2, 3]))
                event = self._event(order, photo, gate, "qc_gate", rnd, "rejected", "postline-auto", decided,
                                    reason=f"[{','.join(codes)}] IMG_{photo}.CR3", blamed=STAGES[first][0])
                self.reasons += [(event, code) for code in codes]
                rnd, at = 2, decided
            delivered_at = max(delivered_at, at + timedelta(hours=2))
        for photo in mine:
            self._event(order, photo, None, "delivery", 1, "delivered", "postline-auto", delivered_at)


def _sqlite_time(moment: datetime | date) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds") if isinstance(moment, datetime) else moment.isoformat()


def load(url: str, record: Record) -> None:
    """Fresh tables (the models' own, with their indexes), then the rows, then the database's statistics."""
    from sqlmodel import SQLModel

    from record.db import get_engine

    engine = get_engine(url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    order_cols = ("id, client, shoot, preset, due, card_folder, status, revisions, rush, deliver_chart, "
                  "client_selection, created_at, updated_at")
    tables = [("orders", order_cols, record.orders),
              ("photos", "id, order_id, source_name, sha256, size_bytes, status, created_at", record.photos),
              ("work_items", "id, order_id, photo_id, stage, round, status, claimed_by, attempt, created_at, "
               "updated_at", record.items),
              ("stage_events", ", ".join(EVENT_COLUMNS), record.events),
              ("stage_event_reasons", "event_id, code", record.reasons)]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, columns, rows in tables:
            if url.startswith("sqlite"):
                marks = ", ".join("?" * len(columns.split(",")))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                   ([_sqlite_time(v) if isinstance(v, (datetime, date)) else v for v in row]
                                    for row in rows))
            else:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    elif ANALYZE:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def timed(url: str, repeat: int) -> dict[str, float]:
    from config.calendar import WorkCalendar
    from config.line import get_line
    from record import stats
    from record.db import transaction
    from record.figures.report import build_report
    from record.figures.scope import Scope

    now = datetime(2026, 11, 2, 8, tzinfo=UTC)
    scopes = {"year": Scope.days(date(2025, 11, 1), date(2026, 10, 31)),
              "month": Scope.days(date(2026, 10, 1), date(2026, 10, 31))}
    out = {}
    for name, scope in scopes.items():
        best, best_cpu = float("inf"), float("inf")
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            with transaction(url) as session:
                build_report(session, scope, WorkCalendar(), line=get_line(), now=now)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        out[name], out[f"{name}_cpu"] = best, best_cpu
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with transaction(url) as session:
            stats.stage_table(session, order_id=1)
        best = min(best, time.perf_counter() - start)
    out["status"] = best
    return out


ANALYZE = True


def main() -> int:
    global ANALYZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-analyze", action="store_true", help="leave the SQLite record without ANALYZE")
    args = parser.parse_args()
    ANALYZE = not args.no_analyze
    sizes = [int(s) for s in args.sizes.split(",")]
    home = tempfile.mkdtemp(prefix="postline-bench-report-")
    os.environ["POSTLINE_HOME"] = home
    from contextlib import ExitStack

    from tests.pg import postgres_cluster

    results: dict[str, dict[int, dict[str, float]]] = {}
    with ExitStack() as stack:
        urls = {}
        if args.only != "postgresql":
            urls["sqlite"] = f"sqlite:///{home}/bench.db"
        if args.only != "sqlite":
            urls["postgres"] = stack.enter_context(postgres_cluster(durable=True))
        for size in sizes:
            started = time.perf_counter()
            record = Record(size)
            made = time.perf_counter() - started
            print(f"{size:>9,} events wanted: {len(record.events):,} events, {len(record.photos):,} photos, "
                  f"{len(record.orders)} orders, {len(record.reasons):,} reason rows (made in {made:.1f} s)",
                  flush=True)
            for name, url in urls.items():
                started = time.perf_counter()
                load(url, record)
                loaded = time.perf_counter() - started
                times = timed(url, args.repeat)
                results.setdefault(name, {})[size] = times
                print(f"  {name:<9} loaded in {loaded:6.1f} s; year report {times['year']:.3f} s "
                      f"({times['year_cpu']:.3f} s of this process's CPU), month "
                      f"{times['month']:.3f} s, one order's stage table {times['status'] * 1000:.1f} ms", flush=True)
    summary: dict[str, object] = {"sizes": sizes, "sqlite_analyzed": ANALYZE}
    for name, by_size in results.items():
        for size, times in by_size.items():
            label = {10_000: "10k", 100_000: "100k", 1_000_000: "1m"}.get(size, str(size))
            summary[f"{name}_{label}_s"] = round(times["year"], 3)
            summary[f"{name}_{label}_cpu_s"] = round(times["year_cpu"], 3)
            summary[f"{name}_{label}_month_s"] = round(times["month"], 3)
            summary[f"{name}_{label}_month_cpu_s"] = round(times["month_cpu"], 3)
            summary[f"{name}_{label}_status_ms"] = round(times["status"] * 1000, 2)
        ordered = [by_size[s]["year"] for s in sizes]
        summary[f"{name}_growth"] = [round(b / a, 2) for a, b in zip(ordered, ordered[1:])]
    summary["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
