"""The production record's own work for an order through the automatic line, per photo, on SQLite and PostgreSQL.

Without any image work, on SQLite (the embedded default) and PostgreSQL: what the line spends on the record per
photo, and how long the delivery's transaction holds the record.

    python bench/moves.py [--photos 1000] [--only sqlite]

For ``--photos`` photos of one order, in the transactions the line's tasks use and through the functions they
call: ingest (the photo, its ingest event, its first work item, its cull signals: tasks/ingest.py), the fused
pass of the default line's four automatic stages (the claim, then the pass recorded: tasks/stages.py), QC's
claim and pass (qc/gate.py). Reported per photo: SQL statements, and milliseconds of this process's CPU.

Then the delivery marks the order's photos delivered in one transaction, which holds the record's write lock
(on SQLite, every other writer waits: retouchers' pulls and hand-backs, the web page, other orders' runs). Side
by side on two identical orders: photo by photo (each photo read and moved with ``record.moves.move_photo``,
three statements a photo: what tasks/deliver.py did until 2026-11-30, then with a fourth, the read after the
move) and in one go (``record.moves.move_photos``, what it does now). ``*_mark_ratio`` is the one-go
transaction's time against the photo-by-photo one's.

PostgreSQL is a throwaway cluster (tests/pg.py); SQLite a WAL file in a temp folder. The last line is JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)          # not bench/: it would shadow the standard library's `queue`

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402

STAGES = ["cull_grade", "liquify_skin", "fine_retouch", "design_layout"]   # the default line's automatic run


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _counted(engine):  # noqa: ANN001, ANN202
    """A one-item list holding the number of SQL statements ``engine`` runs meanwhile."""
    from sqlalchemy import event

    count = [0]

    def listener(*_args) -> None:  # noqa: ANN002
        count[0] += 1

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _order_through_qc(url: str, photos: int, client: str) -> tuple[int, dict[str, float]]:
    """One order's photos ingested, passed through the fused stages and QC, as the line records them; the order's
    id and, per photo, the statements and CPU milliseconds of each step."""
    from record import cull as cull_record
    from record import moves, rounds, work
    from record.db import get_engine, transaction
    from record.models import QC_GATE, CullSignals, Photo, PhotoStatus, ShootType, WorkItem

    with transaction(url) as session:
        order_id = work.create_order(session, client=client, shoot=ShootType.WEDDING, preset_name="bright-wedding",
                                     preset_version=1, preset_hash="x", preset_json="{}", due=None,
                                     card_folder="/card").id
    figures: dict[str, float] = {}

    def step(name: str, work_one) -> None:  # noqa: ANN001
        with _counted(get_engine(url)) as count:
            cpu = _cpu()
            for index in range(photos):
                work_one(index)
            figures[f"{name}_ms_per_photo"] = round((_cpu() - cpu) * 1000 / photos, 2)
            figures[f"{name}_statements_per_photo"] = round(count[0] / photos, 2)

    ids: list[int] = []

    def ingest(index: int) -> None:
        with transaction(url) as session:
            name = f"DSC_{index:05d}.dng"
            photo = Photo(order_id=order_id, source_name=name, sha256=f"{index:064x}", size_bytes=2_000_000,
                          status=PhotoStatus.INGESTED, original_path=f"/archive/{name}")
            if work.find_by_checksum(session, order_id, photo.sha256) is None:
                work.add_photo(session, photo, first_stage=STAGES[0])
                cull_record.add_signals(session, CullSignals(photo_id=photo.id, order_id=order_id, source="preview"))
            ids.append(photo.id)

    items: dict[int, int] = {}

    def fused_pass(index: int) -> None:
        with transaction(url) as session:            # the claim (tasks/stages.py _Pass._claim)
            item = work.claim_queued(session, items[ids[index]])
            session.get(Photo, item.photo_id)
        with transaction(url) as session:            # the pass recorded (_Pass._record)
            item = session.get(WorkItem, item.id)
            done = [moves.StageDone(stage=s, output_path=f"/work/{s}/{index}.tif", output_sha256="0" * 64,
                                    seconds=0.1) for s in STAGES]
            moves.record_pass(session, item, done, actor=work.AUTO_WORKER, input_path=f"/archive/{index}",
                              lease_expires_at=item.lease_expires_at, then=QC_GATE, then_input=done[-1].output_path)

    def qc(index: int) -> None:
        with transaction(url) as session:            # the claim and what the checks need (qc/gate.py qc_batch)
            item = work.claim_queued(session, gate[ids[index]])
            session.get(Photo, item.photo_id)
            work.finished_output(session, item.photo_id, STAGES)
            work.final_output(session, item.photo_id, STAGES[0])
        with transaction(url) as session:            # the decision (_decide)
            rounds.pass_photo(session, session.get(WorkItem, item.id), actor=work.AUTO_WORKER)

    step("ingest", ingest)
    with transaction(url) as session:
        items.update({i.photo_id: i.id for i in work.items_in(session, order_id, STAGES[0])})
    step("fused_pass", fused_pass)
    with transaction(url) as session:
        gate = {i.photo_id: i.id for i in work.items_in(session, order_id, QC_GATE)}
    step("qc", qc)
    return order_id, figures


def _mark_delivered(url: str, order_id: int, *, one_go: bool) -> tuple[float, int]:
    """The delivery's transaction marking the order's passed photos delivered; its seconds and statements."""
    from record import moves, work
    from record.db import get_engine, transaction
    from record.models import Photo, PhotoStatus

    with _counted(get_engine(url)) as count:
        start = time.perf_counter()
        with transaction(url) as session:
            if one_go:
                moves.move_photos(session, work.photos(session, order_id, PhotoStatus.PASSED), PhotoStatus.DELIVERED,
                                  stage="delivery", actor=work.AUTO_WORKER, reason="in /delivery")
            else:
                for photo_id in [p.id for p in work.photos(session, order_id, PhotoStatus.PASSED)]:
                    moves.move_photo(session, session.get(Photo, photo_id), PhotoStatus.DELIVERED, stage="delivery",
                                     actor=work.AUTO_WORKER, reason="in /delivery")
        return time.perf_counter() - start, count[0]


def run(name: str, url: str, photos: int) -> dict[str, float]:
    out: dict[str, float] = {}
    order_a, figures = _order_through_qc(url, photos, "Bench A")
    order_b, _ = _order_through_qc(url, photos, "Bench B")
    for key, value in figures.items():
        out[f"{name}_{key}"] = value
    by_photo, by_photo_statements = _mark_delivered(url, order_a, one_go=False)
    one_go, one_go_statements = _mark_delivered(url, order_b, one_go=True)
    out |= {f"{name}_mark_by_photo_s": round(by_photo, 3), f"{name}_mark_one_go_s": round(one_go, 3),
            f"{name}_mark_by_photo_statements": by_photo_statements,
            f"{name}_mark_one_go_statements": one_go_statements, f"{name}_mark_ratio": round(one_go / by_photo, 4)}
    total_ms = sum(v for k, v in figures.items() if k.endswith("_ms_per_photo"))
    total_statements = sum(v for k, v in figures.items() if k.endswith("_statements_per_photo"))
    print(f"{name}: ingest, fused pass and QC: {total_statements:.1f} statements and {total_ms:.1f} ms of CPU a photo "
          f"({', '.join(f'{k}: {v}' for k, v in figures.items())})", flush=True)
    print(f"{name}: the delivery's transaction marking {photos} photos delivered: photo by photo {by_photo:.2f} s "
          f"({by_photo_statements} statements), in one go {one_go * 1000:.0f} ms ({one_go_statements} statements): "
          f"{one_go / by_photo:.3f}x", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000, help="photos in each order (default 1000)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one database only")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="postline-bench-"))
    os.environ["POSTLINE_HOME"] = str(home)
    os.environ.pop("POSTLINE_DATABASE_URL", None)
    from config.settings import get_settings

    get_settings.cache_clear()
    summary: dict[str, float] = {"photos": args.photos}
    if args.only in (None, "sqlite"):
        summary |= run("sqlite", f"sqlite:///{home / 'bench.db'}", args.photos)
    if args.only in (None, "postgres"):
        from tests.pg import postgres_cluster

        with postgres_cluster(durable=True) as url:
            summary |= run("postgres", url, args.photos)
    summary["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
