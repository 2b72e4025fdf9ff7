"""Claim latency of the stage queues on SQLite and PostgreSQL, with 1, 8 and 32 concurrent claimers.

    python bench/queue.py [--claims 60] [--items 4000] [--levels 1,8,32] [--paced-ms 50] [--only sqlite]

Each claimer is a thread that claims ``--claims`` times with ``record.queue.claim`` (what ``postline queue
pull`` and the web page call; connections from the record's engine pool, warmed first, as in a running web
page or worker). Latency is one whole claim: skills, pick, guarded update, CLAIMED event, commit.

Two runs per database and level:
- flat out: every claimer claims again the moment it has its item. With N claimers this measures the
  record's throughput as much as latency (latency ~ N / claims per second);
- paced: each claimer pauses a random time (exponential, mean ``--paced-ms``) between claims, a crowd of
  very fast retouchers; keys ``*_paced``.

On PostgreSQL the same claim statement is then run by pgbench, PostgreSQL's own C client (prepared, 2 client
threads, the same numbers of connections and claims; keys ``pgbench_*``): the database on this machine
without Python, and without postline's turns (every connection in at once).

The queue holds ``--items`` queued items over 12 orders (rush, due dates, none) in two stages. PostgreSQL is a
throwaway cluster (tests/pg.py) with its default durability (fsync on); SQLite is a WAL file in a temp folder.
Double claims are counted from the record: items with more than one CLAIMED event, plus any item two claimers
both received. The last line printed is JSON; ``load_avg_1m`` tells how busy the machine was.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would shadow the standard library's `queue`: put the repo root first instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import date, timedelta  # noqa: E402

STAGES = ["liquify_skin", "fine_retouch"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _fill(url: str, *, items: int, claimers: int) -> None:
    from sqlmodel import SQLModel

    from record import people
    from record.db import get_engine, transaction
    from record.models import Order, OrderStatus, Photo, PhotoStatus, ShootType
    from record.moves import enqueue

    engine = get_engine(url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    with transaction(url) as session:
        for i in range(claimers):
            people.add_person(session, name=f"r{i:02d}", role="retoucher", skills=STAGES, password=None)
        orders = []
        for i in range(12):
            order = Order(client=f"client {i}", shoot=ShootType.WEDDING, preset="neutral", card_folder="/card",
                          status=OrderStatus.RUNNING, rush=(i % 6 == 0),
                          due=None if i % 4 == 0 else date(2027, 1, 1) + timedelta(days=7 * i))
            session.add(order)
            orders.append(order)
        session.flush()
        photos = [Photo(order_id=orders[n % 12].id, source_name=f"IMG_{n:05d}.CR3", sha256=f"{n:064x}",
                        size_bytes=1, status=PhotoStatus.INGESTED) for n in range(items)]
        session.add_all(photos)
        session.flush()
        for n, photo in enumerate(photos):
            enqueue(session, order_id=photo.order_id, photo_id=photo.id, stage=STAGES[n % 2], round=1,
                    input_path=f"/work/{photo.id}.tif", actor="bench")


def _run_level(url: str, *, claimers: int, claims: int, items: int, pause_ms: float = 0) -> dict[str, float]:
    from sqlmodel import func, select

    from record import queue
    from record.db import transaction
    from record.models import EventKind, StageEvent

    _fill(url, items=items, claimers=claimers)
    latencies: list[float] = []
    claimed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(claimers)

    def claimer(name: str) -> None:
        mine_lat, mine_ids = [], []
        rng = random.Random(name)
        try:
            with transaction(url) as session:   # a warm pool, as in a running server: connect before the clock
                session.exec(select(func.count()).select_from(StageEvent))
            barrier.wait()
            for _ in range(claims):
                started = time.perf_counter()
                item = queue.claim(person=name, lease=timedelta(minutes=30), url=url)
                mine_lat.append(time.perf_counter() - started)
                if item is None:
                    break
                mine_ids.append(item.id)
                if pause_ms:
                    time.sleep(rng.expovariate(1000 / pause_ms))  # a person between two pulls, sped up
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        with lock:
            latencies.extend(mine_lat)
            claimed.extend(mine_ids)

    threads = [threading.Thread(target=claimer, args=(f"r{i:02d}",)) for i in range(claimers)]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall
    if errors:
        raise errors[0]
    with transaction(url) as session:
        per_item = session.exec(select(StageEvent.work_item_id, func.count()).where(
            StageEvent.kind == EventKind.CLAIMED).group_by(StageEvent.work_item_id)).all()
    doubles = sum(1 for _, n in per_item if n > 1) + (len(claimed) - len(set(claimed)))
    ms = [x * 1000 for x in latencies]
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(_percentile(ms, 0.99), 2),
            "max_ms": round(max(ms), 2), "claims": len(claimed), "claims_per_s": round(len(claimed) / wall),
            "double_claims": doubles}


def _pgbench_floor(url: str, *, claimers: int, claims: int, items: int) -> dict[str, float] | None:
    """The same claim statement (postline's, as :mod:`record.claim_sql` writes it for "any of my
    stages") run by pgbench, PostgreSQL's own C client (prepared, 2 client threads, ``claimers``
    connections, ``claims`` each) on the same filled queue: what the database gives without Python.
    None when pgbench is not installed."""
    import subprocess

    from record.claim_sql import statements
    from tests.pg import find_bin_dir

    pgbench = find_bin_dir() / "pgbench"
    if not pgbench.is_file():
        return None
    _fill(url, items=items, claimers=claimers)
    claim, _ = statements("postgresql", None, True)
    claim = (claim.replace("%(actor)s", "('r' || lpad(:client_id::text, 2, '0'))")
             .replace("%(now)s", "(now() AT TIME ZONE 'UTC')")
             .replace("%(expires)s", "(now() AT TIME ZONE 'UTC' + interval '30 minutes')"))
    params = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "claim.sql"
        script.write_text(claim + ";\n")
        os.chmod(tmp, 0o777)                        # pgbench may run as the cluster's user
        done = subprocess.run([str(pgbench), "-h", params["host"], "-p", params["port"], "-U", "postgres", "-n",
                               "-M", "prepared", "-c", str(claimers), "-j", str(min(2, claimers)),
                               "-t", str(claims), "-f", str(script), "--log", f"--log-prefix={tmp}/log",
                               "postgres"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
        latencies = [int(line.split()[2]) / 1000 for log in Path(tmp).glob("log*")
                     for line in log.read_text().splitlines() if line.strip()]
    tps = next((float(line.split("=")[1].split()[0]) for line in done.stdout.splitlines()
                if line.startswith("tps")), float("nan"))
    return {"p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(_percentile(latencies, 0.99), 2),
            "claims_per_s": round(tps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=60, help="claims per claimer (default 60)")
    parser.add_argument("--items", type=int, default=4000, help="queued items at the start of each run")
    parser.add_argument("--levels", default="1,8,32", help="numbers of concurrent claimers")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one database only")
    parser.add_argument("--paced-ms", type=float, default=50,
                        help="also run paced: each claimer pauses a random time of this mean between claims "
                             "(0: skip); reported as *_paced keys (default 50)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    home = Path(tempfile.mkdtemp(prefix="postline-bench-"))
    os.environ["POSTLINE_HOME"] = str(home)
    os.environ.pop("POSTLINE_DATABASE_URL", None)
    from config.settings import get_settings

    get_settings.cache_clear()
    from tests.pg import postgres_cluster

    summary: dict[str, object] = {}
    double_claims = 0

    def keep(name: str, level: int, suffix: str, result: dict[str, float]) -> None:
        for key in ("p50_ms", "p99_ms", "claims_per_s"):
            summary[f"{name}_{key}_{level}{suffix}"] = result[key]

    def bench(name: str, url: str) -> None:
        nonlocal double_claims
        modes = [("", 0.0)] + ([("_paced", args.paced_ms)] if args.paced_ms else [])
        for suffix, pause in modes:
            for level in levels:
                result = _run_level(url, claimers=level, claims=args.claims, pause_ms=pause,
                                    items=max(args.items, level * args.claims))
                how = f"paced {pause:g} ms" if pause else "flat out"
                print(f"{name:8s} {level:3d} claimers, {how:14s}: p50 {result['p50_ms']:7.2f} ms  "
                      f"p99 {result['p99_ms']:7.2f} ms  max {result['max_ms']:7.2f} ms  {result['claims']} claims, "
                      f"{result['claims_per_s']}/s, double claims {result['double_claims']}", flush=True)
                keep(name, level, suffix, result)
                double_claims += result["double_claims"]

    if args.only in (None, "sqlite"):
        bench("sqlite", f"sqlite:///{home / 'bench.db'}")
    if args.only in (None, "postgres"):
        with postgres_cluster(durable=True) as url:
            bench("postgres", url)
            for level in levels:
                floor = _pgbench_floor(url, claimers=level, claims=args.claims,
                                       items=max(args.items, level * args.claims))
                if floor is None:
                    print("pgbench not installed: no C-client floor")
                    break
                print(f"pgbench  {level:3d} claimers, flat out      : p50 {floor['p50_ms']:7.2f} ms  "
                      f"p99 {floor['p99_ms']:7.2f} ms  {floor['claims_per_s']}/s  (the same statement, "
                      f"PostgreSQL's C client)", flush=True)
                keep("pgbench", level, "", floor)
    summary["double_claims"] = double_claims
    summary["cpus"] = os.cpu_count()
    summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
