"""A production record written by hand, event by event, with the times chosen: the fixture whose figures
tests/test_figures.py computes by hand. The rows are what postline's moves write (record/moves.py): a work
item per photo, stage and round, its events (ENQUEUED, CLAIMED, SUBMITTED | PASSED | REJECTED | FAILED), the
photo-level events (INGESTED, PASSED / HELD at the gate, DELIVERED), reason codes of rejections.

The line: ``cull_grade`` (automatic) then ``liquify_skin`` (people), then the QC gate. Holidays: 2026-10-05.
October 2026 starts on a Thursday; the 3rd/4th, 10th/11th ... are weekends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlmodel import Session

from record.models import (
    DELIVERY, INGEST, ORIGINAL_REVIEW, QC_GATE, EventKind, Order, OrderStatus, Photo, PhotoStatus, ShootType,
    StageEvent, WorkItem, WorkStatus,
)
from record.reasons import record_codes

AUTO = "postline-auto"
K = EventKind
LINE_TOML = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
mode = "automatic"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
mode = "manual"
"""
HOLIDAYS = "2026-10-05   # a studio holiday (a Monday)\n"


def t(text: str) -> datetime:
    """'2026-10-01 09:00' -> an aware UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Log:
    def __init__(self, session: Session):
        self.s = session

    def order(self, client: str, shoot: ShootType, preset: str, created: str, *, due: date | None = None,
              status: OrderStatus = OrderStatus.DELIVERED, revisions: int = 0, rush: bool = False) -> int:
        order = Order(client=client, shoot=shoot, preset=preset, card_folder="/card", status=status, due=due,
                      revisions=revisions, rush=rush, created_at=t(created))
        self.s.add(order)
        self.s.flush()
        return order.id

    def photo(self, order: int, name: str, status: PhotoStatus, at: str) -> int:
        photo = Photo(order_id=order, source_name=name, sha256=name.ljust(64, "0"), size_bytes=1, status=status)
        self.s.add(photo)
        self.s.flush()
        kind = K.REJECTED if status is PhotoStatus.REJECTED else K.INGESTED
        self.event(order, photo.id, None, INGEST, 1, kind, at, reason="unreadable" if kind is K.REJECTED else None)
        return photo.id

    def event(self, order: int, photo: int | None, item: int | None, stage: str, round: int, kind: K, at: str,
              actor: str = AUTO, reason: str | None = None, blamed: str | None = None,
              seconds: float | None = None, queued: str | None = None) -> None:
        event = StageEvent(order_id=order, photo_id=photo, work_item_id=item, stage=stage, round=round, kind=kind,
                           actor=actor, reason=reason, blamed_stage=blamed, seconds=seconds, at=t(at),
                           queued_at=t(queued) if queued else None)
        self.s.add(event)
        record_codes(self.s, event)

    def item(self, order: int, photo: int, stage: str, round: int, status: WorkStatus, claimed_by: str | None,
             updated: str) -> int:
        item = WorkItem(order_id=order, photo_id=photo, stage=stage, round=round, status=status,
                        claimed_by=claimed_by, updated_at=t(updated), queue_rank="1|9999-12-31")
        self.s.add(item)
        self.s.flush()
        return item.id

    def work(self, order: int, photo: int, stage: str, round: int, enqueued: str, claimed: str | None = None,
             done: str | None = None, actor: str = AUTO, seconds: float | None = None,
             outcome: K = K.SUBMITTED) -> int:
        """One photo's pass through a stage: queued, claimed, handed back (or failed); the automatic worker's
        hand-back carries its machine ``seconds``, a person's the time from claim to hand-back."""
        status = {None: WorkStatus.CLAIMED if claimed else WorkStatus.QUEUED, K.SUBMITTED: WorkStatus.SUBMITTED,
                  K.FAILED: WorkStatus.FAILED}[outcome if done else None]
        item = self.item(order, photo, stage, round, status, actor if claimed else None, done or claimed or enqueued)
        self.event(order, photo, item, stage, round, K.ENQUEUED, enqueued)
        if claimed:
            self.claim(order, photo, item, stage, round, enqueued, claimed, actor)
        if done:
            if seconds is None and outcome is K.SUBMITTED:
                seconds = (t(done) - t(claimed)).total_seconds()
            self.event(order, photo, item, stage, round, outcome, done, actor, seconds=seconds,
                       reason="unreadable" if outcome is K.FAILED else None)
            if outcome is K.FAILED:
                self.event(order, photo, None, stage, round, K.FAILED, done, actor, reason="unreadable")
        return item

    def claim(self, order: int, photo: int, item: int, stage: str, round: int, enqueued: str, claimed: str,
              actor: str = AUTO) -> None:
        """An item's first claim, carrying its queue wait as record.moves writes it: when it was enqueued and the
        seconds since."""
        self.event(order, photo, item, stage, round, K.CLAIMED, claimed, actor,
                   seconds=(t(claimed) - t(enqueued)).total_seconds(), queued=enqueued)

    def gate(self, order: int, photo: int, round: int, enqueued: str, decided: str, *, reason: str | None = None,
             blamed: str | None = None, held: bool = False) -> None:
        """The QC gate's pass (no reason) or rejection (reason '[codes] ...', the stage blamed)."""
        passed = reason is None
        item = self.item(order, photo, QC_GATE, round, WorkStatus.PASSED if passed else WorkStatus.REJECTED,
                         AUTO, decided)
        self.event(order, photo, item, QC_GATE, round, K.ENQUEUED, enqueued)
        self.claim(order, photo, item, QC_GATE, round, enqueued, decided)
        self.event(order, photo, item, QC_GATE, round, K.PASSED if passed else K.REJECTED, decided,
                   reason=reason, blamed=blamed)
        if passed:
            self.event(order, photo, None, QC_GATE, round, K.PASSED, decided)
        if held:
            self.event(order, photo, None, QC_GATE, round, K.HELD, decided, reason="a QC lead must look")

    def deliver(self, order: int, photo: int, at: str) -> None:
        self.event(order, photo, None, DELIVERY, 1, K.DELIVERED, at)


def october(session: Session) -> dict[str, int]:
    """The fixture: orders A, B, E delivered in October 2026, C and D open, Z a year earlier. Returns ids."""
    log, P, W = Log(session), PhotoStatus, ShootType
    cg, ls = "cull_grade", "liquify_skin"

    # Order A: three photos; a2 sent back to grading for two reasons, a3 twice to skin, then held.
    A = log.order("Anna & Ben", W.WEDDING, "bright-wedding", "2026-10-01 08:50", due=date(2026, 10, 20), revisions=1)
    a1, a2, a3 = (log.photo(A, f"A{i}.dng", P.DELIVERED, "2026-10-01 08:50") for i in (1, 2, 3))
    for photo, secs in ((a1, 2), (a2, 3), (a3, 4)):
        log.work(A, photo, cg, 1, "2026-10-01 08:50", "2026-10-01 09:00", "2026-10-01 09:00", seconds=secs)
    log.work(A, a1, ls, 1, "2026-10-01 09:00", "2026-10-01 10:00", "2026-10-01 10:30", "rita")
    log.work(A, a2, ls, 1, "2026-10-01 09:00", "2026-10-01 11:00", "2026-10-01 11:20", "rita")
    log.work(A, a3, ls, 1, "2026-10-01 09:00", "2026-10-01 12:00", "2026-10-01 13:00", "rita")
    log.gate(A, a1, 1, "2026-10-01 10:30", "2026-10-01 14:00")
    log.gate(A, a2, 1, "2026-10-01 11:20", "2026-10-01 14:00", reason="[clipped,colour_cast] A2.dng blown, cast",
             blamed=cg)
    log.gate(A, a3, 1, "2026-10-01 13:00", "2026-10-01 14:00", reason="[over_smoothed_skin] A3.dng pores gone",
             blamed=ls)
    log.work(A, a2, cg, 2, "2026-10-01 14:00", "2026-10-02 09:00", "2026-10-02 09:00", seconds=5)
    log.work(A, a2, ls, 2, "2026-10-02 09:00", "2026-10-02 10:00", "2026-10-02 10:40", "sam")
    log.gate(A, a2, 2, "2026-10-02 10:40", "2026-10-02 11:00")
    log.work(A, a3, ls, 2, "2026-10-01 14:00", "2026-10-02 09:00", "2026-10-02 09:30", "rita")
    log.gate(A, a3, 2, "2026-10-02 09:30", "2026-10-02 11:00", reason="[over_smoothed_skin] A3.dng still smooth",
             blamed=ls, held=True)
    log.event(A, a3, None, QC_GATE, 2, K.PASSED, "2026-10-06 10:00", "maria")      # the lead lets it pass
    log.deliver(A, a1, "2026-10-02 12:00")
    log.deliver(A, a2, "2026-10-02 12:00")
    log.deliver(A, a3, "2026-10-06 12:00")

    # Order B: due on the 8th, delivered on the 12th; b2 sent back to grading, then its file fails there.
    B = log.order("Chloe", W.PORTRAIT, "classic-portrait", "2026-10-02 09:50", due=date(2026, 10, 8))
    b1 = log.photo(B, "B1.dng", P.DELIVERED, "2026-10-02 09:50")
    b2 = log.photo(B, "B2.dng", P.FAILED, "2026-10-02 09:50")
    log.photo(B, "B3.dng", P.REJECTED, "2026-10-02 09:50")
    log.work(B, b1, cg, 1, "2026-10-02 09:50", "2026-10-02 10:00", "2026-10-02 10:00", seconds=3)
    log.work(B, b2, cg, 1, "2026-10-02 09:50", "2026-10-02 10:00", "2026-10-02 10:00", seconds=6)
    log.work(B, b1, ls, 1, "2026-10-02 10:00", "2026-10-02 15:00", "2026-10-02 16:00", "sam")
    log.work(B, b2, ls, 1, "2026-10-02 10:00", "2026-10-09 09:00", "2026-10-09 10:00", "rita")
    log.gate(B, b1, 1, "2026-10-02 16:00", "2026-10-09 09:00")
    log.gate(B, b2, 1, "2026-10-09 10:00", "2026-10-09 11:00", reason="[look_lost] B2.dng colours gone", blamed=cg)
    log.work(B, b2, cg, 2, "2026-10-09 11:00", "2026-10-09 11:00", "2026-10-09 11:00", outcome=K.FAILED)
    log.deliver(B, b1, "2026-10-12 10:00")

    # Order E: came in on 1 September, delivered on 14 October (30 working days: over the promise).
    E = log.order("Eve", W.CHILDREN, "warm-children", "2026-09-01 08:50", due=date(2026, 10, 9), revisions=2)
    e1 = log.photo(E, "E1.dng", P.DELIVERED, "2026-09-01 08:50")
    log.work(E, e1, cg, 1, "2026-09-01 08:50", "2026-09-01 09:00", "2026-09-01 09:00", seconds=2)
    log.work(E, e1, ls, 1, "2026-09-01 09:00", "2026-09-30 09:00", "2026-09-30 10:00", "rita")
    log.gate(E, e1, 1, "2026-09-30 10:00", "2026-10-13 09:00")
    log.deliver(E, e1, "2026-10-14 09:00")

    # Order C: open, four photos waiting for skin; sam took c1 on the 30th and hands it back on 1 November.
    C = log.order("Dan", W.WEDDING, "bright-wedding", "2026-10-26 08:50", due=date(2026, 12, 1),
                  status=OrderStatus.RUNNING)
    cs = [log.photo(C, f"C{i}.dng", P.INGESTED, "2026-10-26 08:50") for i in (1, 2, 3, 4)]
    for photo in cs:
        log.work(C, photo, cg, 1, "2026-10-26 08:50", "2026-10-26 09:00", "2026-10-26 09:00", seconds=1)
    log.work(C, cs[0], ls, 1, "2026-10-26 09:00", "2026-10-30 09:00", "2026-11-01 10:00", "sam")
    for photo in cs[1:]:
        log.work(C, photo, ls, 1, "2026-10-26 09:00")
    gate = log.item(C, cs[0], QC_GATE, 1, WorkStatus.QUEUED, None, "2026-11-01 10:00")
    log.event(C, cs[0], gate, QC_GATE, 1, K.ENQUEUED, "2026-11-01 10:00")

    # Order D: a rush order, six photos queued for grading on the 30th; the senior photographer culls d6.
    D = log.order("Finn", W.CHILDREN, "warm-children", "2026-10-30 08:50", due=date(2026, 12, 31),
                  status=OrderStatus.RUNNING, rush=True)
    ds = [log.photo(D, f"D{i}.dng", P.INGESTED if i < 6 else P.CULLED, "2026-10-30 08:50") for i in range(1, 7)]
    for photo in ds[:5]:
        log.work(D, photo, cg, 1, "2026-10-30 08:50")
    culled = log.item(D, ds[5], cg, 1, WorkStatus.CANCELLED, None, "2026-10-30 09:30")
    log.event(D, ds[5], culled, cg, 1, K.ENQUEUED, "2026-10-30 08:50")
    log.event(D, ds[5], culled, cg, 1, K.RELEASED, "2026-10-30 09:30", "lena", reason="[blurred] D6.dng culled")
    log.event(D, ds[5], None, ORIGINAL_REVIEW, 1, K.REJECTED, "2026-10-30 09:30", "lena",
              reason="[blurred] D6.dng culled by lena")

    # Order Z, a year earlier: rita handed back two photos on two days, one came back from QC.
    Z = log.order("Old", W.WEDDING, "bright-wedding", "2025-10-01 08:50")
    z1 = log.photo(Z, "Z1.dng", P.DELIVERED, "2025-10-01 08:50")
    z2 = log.photo(Z, "Z2.dng", P.HELD, "2025-10-01 08:50")
    for photo in (z1, z2):
        log.work(Z, photo, cg, 1, "2025-10-01 08:50", "2025-10-01 09:00", "2025-10-01 09:00", seconds=2)
    log.work(Z, z1, ls, 1, "2025-10-01 09:00", "2025-10-01 10:00", "2025-10-01 11:00", "rita")
    log.work(Z, z2, ls, 1, "2025-10-01 09:00", "2025-10-02 10:00", "2025-10-02 11:00", "rita")
    log.gate(Z, z1, 1, "2025-10-01 11:00", "2025-10-02 12:00")
    log.gate(Z, z2, 1, "2025-10-02 11:00", "2025-10-02 12:00", reason="[over_smoothed_skin] Z2.dng", blamed=ls,
             held=True)
    log.deliver(Z, z1, "2025-10-03 09:00")
    return {"A": A, "B": B, "C": C, "D": D, "E": E, "Z": Z}


def record_october(tmp_path: Path, monkeypatch) -> dict[str, int]:  # noqa: ANN001  (pytest's MonkeyPatch)
    """The fixture in this test's record, read with its line file and holidays (as `postline report` reads them)."""
    from config.line import get_line
    from record.db import transaction

    (tmp_path / "line.toml").write_text(LINE_TOML)
    (tmp_path / "holidays.txt").write_text(HOLIDAYS)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(tmp_path / "line.toml"))
    monkeypatch.setenv("POSTLINE_HOLIDAYS_FILE", str(tmp_path / "holidays.txt"))
    get_line.cache_clear()
    with transaction() as session:
        return october(session)
