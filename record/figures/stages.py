"""Per stage, from the stage events: photos entered, finished, sent back, held and failed (photos, with the
passes apart), work in progress, throughput, queue wait and touch time, rework rate and first-pass yield.

Every figure is aggregated in SQL (one statement each, over the indexes in record/models.py); Python only
puts the rows together. What each column means:

- entered / finished: distinct photos (a photo reworked twice is one photo, three passes). A stage finishes a
  pass when it hands it back (SUBMITTED); the QC gate finishes a pass when it decides (passes or rejects the
  photo, or a lead lets a photo it held pass) and a photo when it passes it; ingest when it takes a photo in;
  delivery when the photo is in a delivery.
- sent back: photos the QC gate sent back with this stage blamed (``rejections``: each rejection once, however
  many reasons it gave); on the QC gate's row, the photos it sent back. held: photos the gate held for a
  person after the allowed rework, on the row of the stage blamed (and on the gate's). failed: a bad file.
- wip: work items queued or claimed at the end of the period.
- people's throughput: passes people handed back per hour of their touch time (claim to hand-back). The
  automatic worker's time is machine time: shown apart (median seconds a photo), never as photos per hour.
- per day: photos finished per calendar day of the period (every stage).
- queue wait: enqueued to first claimed, for items enqueued in the period; touch time: claim to hand-back.
- lead's decision (the QC gate, on a line with a lead's review): from the gate's automatic checks to the lead's
  decision (the wait for the lead and the review), for the decisions of the period.
- rework rate: photos sent back (blamed here) over photos finished here, both in the period.
- first-pass yield: of the photos whose first pass (round 1) here was handed back in the period, the share the
  QC gate did not send back to this stage for that pass (in its round 1, or later, when it sent the photo back
  to another stage first and this pass was still the photo's last here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session

from config.line import Line
from record.figures.scope import Scope
from record.figures.sql import EVENTS, ITEMS, K, percentiles, unindexed
from record.models import CLIENT_REVIEW, DELIVERY, INGEST, ORIGINAL_REVIEW, QC_GATE, WorkStatus, utcnow
from record.work import AUTO_WORKER

PSEUDO_TITLES = {INGEST: "Ingest", QC_GATE: "QC gate", DELIVERY: "Delivery",
                 ORIGINAL_REVIEW: "Review of originals", CLIENT_REVIEW: "Client revision"}
CLOSING = (K.SUBMITTED, K.PASSED, K.REJECTED, K.FAILED)


@dataclass
class Spread:
    """How long something took: how many were timed, their median and p90 (nearest rank), in seconds."""
    n: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass
class StageRow:
    stage: str
    title: str
    work_stage: bool = True          # a stage of the line (not ingest, the gate or delivery)
    entered: int = 0
    entered_passes: int = 0
    finished: int = 0
    finished_passes: int = 0
    sent_back: int = 0
    rejections: int = 0
    held: int = 0
    failed: int = 0
    wip: int = 0
    people_passes: int = 0           # handed back by people, with their touch time
    people_seconds: float = 0.0
    machine_passes: int = 0          # done by the automatic worker, with its machine time
    machine_seconds: float = 0.0
    touch: Spread = field(default_factory=Spread)
    machine: Spread = field(default_factory=Spread)
    wait: Spread = field(default_factory=Spread)
    lead_wait: Spread = field(default_factory=Spread)
    first_passes: int = 0
    first_passes_sent_back: int = 0
    days: float | None = None        # calendar days of the period, for the per-day figure

    @property
    def rework_rate(self) -> float | None:
        return self.sent_back / self.finished if self.work_stage and self.finished else None

    @property
    def first_pass_yield(self) -> float | None:
        return 1 - self.first_passes_sent_back / self.first_passes if self.first_passes else None

    @property
    def people_per_hour(self) -> float | None:
        """Passes people handed back per hour of their touch time; None for work no person did."""
        return self.people_passes / (self.people_seconds / 3600) if self.people_seconds > 0 else None

    @property
    def per_day(self) -> float | None:
        return self.finished / self.days if self.days else None

    # The names `postline status` and the delivery summary have always read.
    @property
    def photos_in(self) -> int:
        return self.entered

    @property
    def passed(self) -> int:
        return self.finished

    @property
    def rejected(self) -> int:
        return self.sent_back + self.failed

    @property
    def mean_seconds(self) -> float | None:
        timed = self.people_passes + self.machine_passes
        return (self.people_seconds + self.machine_seconds) / timed if timed else None

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage, "title": self.title, "work_stage": self.work_stage,
            "entered_photos": self.entered, "entered_passes": self.entered_passes,
            "finished_photos": self.finished, "finished_passes": self.finished_passes,
            "sent_back_photos": self.sent_back, "rejections": self.rejections, "held_photos": self.held,
            "failed_photos": self.failed, "wip_items": self.wip,
            "people_passes": self.people_passes, "people_touch_hours": round(self.people_seconds / 3600, 4),
            "people_passes_per_touch_hour": _r(self.people_per_hour),
            "machine_passes": self.machine_passes, "machine_seconds_median": _r(self.machine.median),
            "machine_seconds_p90": _r(self.machine.p90),
            "photos_per_calendar_day": _r(self.per_day),
            "queue_wait_seconds_median": _r(self.wait.median), "queue_wait_seconds_p90": _r(self.wait.p90),
            "touch_seconds_median": _r(self.touch.median), "touch_seconds_p90": _r(self.touch.p90),
            "lead_decision_seconds_median": _r(self.lead_wait.median),
            "lead_decision_seconds_p90": _r(self.lead_wait.p90),
            "rework_rate": _r(self.rework_rate), "first_pass_photos": self.first_passes,
            "first_pass_sent_back": self.first_passes_sent_back, "first_pass_yield": _r(self.first_pass_yield),
        }


def _r(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


PHOTO_LEVEL = (K.INGESTED, K.DELIVERED, K.HELD)      # kinds only photo-level events have


def _counts(session: Session, scope: Scope) -> dict[tuple[str, str, bool], tuple[int, int]]:
    """(stage, kind, photo-level) -> (events, distinct photos) in the period: a work item's events, and the
    photo-level kinds (ingest's refusals and duplicates set aside too). Grouped by kind and stage, the order of
    ix_events_figures."""
    kinds = [K.ENQUEUED, K.SUBMITTED, K.PASSED, K.REJECTED, K.FAILED, K.SET_ASIDE, *PHOTO_LEVEL]
    rows = session.execute(
        select(EVENTS.c.kind, EVENTS.c.stage, func.count(), func.count(EVENTS.c.photo_id.distinct()))
        .where(EVENTS.c.kind.in_(kinds), *scope.events(EVENTS),
               or_(EVENTS.c.work_item_id.is_not(None), EVENTS.c.kind.in_(PHOTO_LEVEL), EVENTS.c.stage == INGEST))
        .group_by(EVENTS.c.kind, EVENTS.c.stage)
    ).all()
    out = {(stage, K(kind), K(kind) in PHOTO_LEVEL or stage == INGEST): (n, photos) for kind, stage, n, photos in rows
           if K(kind) is not K.SET_ASIDE or stage == INGEST}
    # Photos through QC by any way (the gate, or a lead letting a held photo pass): what delivery takes in.
    passed = session.execute(
        select(func.count(), func.count(EVENTS.c.photo_id.distinct())).where(
            EVENTS.c.kind == K.PASSED, EVENTS.c.stage == QC_GATE, unindexed(EVENTS.c.work_item_id).is_(None),
            *scope.events(EVENTS, stage_column=None))
    ).one()
    out[(QC_GATE, K.PASSED, True)] = tuple(passed)
    return out


def _ingested_or_not(session: Session, scope: Scope) -> int:
    """Card files the ingest took, refused or set aside in the period: a file refused, then copied again and
    taken, is one."""
    return session.execute(select(func.count(EVENTS.c.photo_id.distinct())).where(
        EVENTS.c.kind.in_([K.INGESTED, K.REJECTED, K.SET_ASIDE]), EVENTS.c.stage == INGEST,
        *scope.events(EVENTS))).scalar_one()


def _refused_for_good(session: Session, scope: Scope) -> int:
    """Card files the ingest refused in the period and did not take since (one refused, then copied again and
    taken, is not one: it counted among both the refused and the taken)."""
    taken = select(EVENTS.c.photo_id).where(EVENTS.c.kind == K.INGESTED, EVENTS.c.stage == INGEST)
    return session.execute(select(func.count(EVENTS.c.photo_id.distinct())).where(
        EVENTS.c.kind == K.REJECTED, EVENTS.c.stage == INGEST, EVENTS.c.photo_id.not_in(taken),
        *scope.events(EVENTS))).scalar_one()


def _gate_rejections() -> list:
    return [EVENTS.c.kind == K.REJECTED, EVENTS.c.stage == QC_GATE, EVENTS.c.work_item_id.is_not(None)]


def _sent_back(session: Session, scope: Scope) -> dict[str, tuple[int, int]]:
    """Stage blamed -> (QC rejections, distinct photos) in the period."""
    rows = session.execute(
        select(EVENTS.c.blamed_stage, func.count(), func.count(EVENTS.c.photo_id.distinct()))
        .where(*_gate_rejections(), *scope.events(EVENTS, stage_column="blamed_stage", by_retoucher="blamed"))
        .group_by(EVENTS.c.blamed_stage)
    ).all()
    return {stage: (n, photos) for stage, n, photos in rows}


def _held(session: Session, scope: Scope) -> dict[str, int]:
    """Stage blamed -> photos held in the period (the rejection that held them names the stage). Every stage
    blamed, whatever ``scope.stage``: the gate's row holds them all, the stage's its own."""
    held = EVENTS.alias("held")
    rows = session.execute(
        select(EVENTS.c.blamed_stage, func.count(held.c.photo_id.distinct()))
        .select_from(held.join(EVENTS, and_(EVENTS.c.photo_id == held.c.photo_id, EVENTS.c.round == held.c.round)))
        .where(held.c.kind == K.HELD, held.c.stage == QC_GATE, *scope.in_period(held.c.at),
               *_gate_rejections(),
               *scope.events(EVENTS, period=False, stage_column=None, by_retoucher="blamed"))
        .group_by(EVENTS.c.blamed_stage)
    ).all()
    return dict(rows)


def _times(session: Session, scope: Scope) -> dict:
    """(stage, people 0/1) -> (n, median, p90, total seconds) of the hand-backs in the period: people's touch
    time and the automatic worker's machine time apart (each in the order of ix_events_durations)."""
    out = {}
    for people, who in ((1, EVENTS.c.actor != AUTO_WORKER), (0, EVENTS.c.actor == AUTO_WORKER)):
        spreads = percentiles(session, EVENTS.c.seconds, [EVENTS.c.stage],
                              [EVENTS.c.kind == K.SUBMITTED, who, *scope.events(EVENTS, period=False)],
                              when=EVENTS.c.at, period=scope.in_period)
        out |= {(key[0], people): spread for key, spread in spreads.items()}
    return out


def _waits(session: Session, scope: Scope) -> dict:
    """stage -> (n, median, p90, total) of seconds from enqueued to first claimed, for the items enqueued in the
    period. An item's first CLAIMED event carries both (``queued_at``, and the wait in ``seconds``), written with
    the claim (record/moves.py, record/claim_sql.py): the waits are read in the order of ix_events_durations,
    like touch times, instead of pairing every item's enqueue with its first claim at report time."""
    spreads = percentiles(session, EVENTS.c.seconds, [EVENTS.c.stage],
                          [EVENTS.c.kind == K.CLAIMED, EVENTS.c.queued_at.is_not(None),
                           *scope.events(EVENTS, period=False)], when=EVENTS.c.queued_at, period=scope.in_period)
    return {key[0]: spread for key, spread in spreads.items()}


def _lead_waits(session: Session, scope: Scope) -> Spread:
    """Seconds from the QC gate's automatic checks to a lead's decision, for the decisions in the period: the
    decision's event carries them (record.moves.since_claimed); the gate's own decisions carry none."""
    spreads = percentiles(session, EVENTS.c.seconds, [EVENTS.c.stage],
                          [EVENTS.c.kind.in_([K.PASSED, K.REJECTED]), EVENTS.c.stage == QC_GATE,
                           EVENTS.c.work_item_id.is_not(None), EVENTS.c.actor != AUTO_WORKER,
                           *scope.events(EVENTS, period=False)], when=EVENTS.c.at, period=scope.in_period)
    found = spreads.get((QC_GATE,))
    return Spread(*found[:3]) if found else Spread()


def _wip(session: Session, scope: Scope, now: datetime,
         counts: dict[tuple[str, str, bool], tuple[int, int]] | None = None) -> dict[str, int]:
    """stage -> work items open (queued or claimed) at the period's end (``now`` if it has not ended): enqueued
    before it, less those closed (handed back, passed, rejected, failed) or cancelled before it, plus the failed
    ones put back in the line before it (:func:`_put_back`).

    ``counts`` (:func:`_counts` of the same scope) already holds the period's own enqueues and closings (a work
    item's events: not photo-level); when the period has ended, only the events before it are counted here
    (none for a report from the start of the record), not every event up to its end again."""
    end = scope.until if scope.until is not None and scope.until < now else now
    wip: dict[str, int] = {}
    before: Scope | None = scope.shifted(None, end)
    if counts is not None and end == scope.until:
        for (stage, kind, photo_level), (n, _) in counts.items():
            if not photo_level and kind in (K.ENQUEUED, *CLOSING):
                wip[stage] = wip.get(stage, 0) + (n if kind is K.ENQUEUED else -n)
        before = scope.shifted(None, scope.since) if scope.since is not None else None
    if before is not None:
        rows = session.execute(
            select(EVENTS.c.kind, EVENTS.c.stage, func.count()).where(
                EVENTS.c.kind.in_([K.ENQUEUED, *CLOSING]), EVENTS.c.work_item_id.is_not(None),
                *before.events(EVENTS))
            .group_by(EVENTS.c.kind, EVENTS.c.stage)
        ).all()
        for kind, stage, n in rows:
            wip[stage] = wip.get(stage, 0) + (n if K(kind) is K.ENQUEUED else -n)
    for stage, n in _put_back(session, scope.shifted(None, end)).items():
        wip[stage] = wip.get(stage, 0) + n
    cancelled = session.execute(
        select(ITEMS.c.stage, func.count()).where(
            ITEMS.c.status == WorkStatus.CANCELLED, ITEMS.c.updated_at < end, *scope.of_orders(ITEMS.c.order_id),
            *([ITEMS.c.stage == scope.stage] if scope.stage else []),
            *([ITEMS.c.claimed_by == scope.retoucher] if scope.retoucher else []))
        .group_by(ITEMS.c.stage)
    ).all()
    for stage, n in cancelled:
        wip[stage] = wip.get(stage, 0) - n
    return wip


def _put_back(session: Session, scope: Scope) -> dict[str, int]:
    """stage -> failed work items queued again in ``scope`` (`postline order retry`). A retry reopens the item
    its FAILED closed with a RELEASED event, not an ENQUEUED one: the RELEASED that follows a FAILED of the same
    item (one that gives a claim up or cancels follows a claim or a queueing)."""
    previous = EVENTS.alias("previous")
    before_it = (select(previous.c.kind).where(previous.c.work_item_id == EVENTS.c.work_item_id,
                                               previous.c.id < EVENTS.c.id)
                 .order_by(previous.c.id.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(EVENTS.c.stage, func.count()).where(
            EVENTS.c.kind == K.RELEASED, EVENTS.c.work_item_id.is_not(None), before_it == K.FAILED,
            *scope.events(EVENTS))
        .group_by(EVENTS.c.stage)
    ).all()
    return dict(rows)


def first_pass_rows(session: Session, scope: Scope, *, by: str = "stage",
                    where: tuple = ()) -> dict[tuple, tuple[int, int]]:
    """(stage[, actor | order_id]) -> (photos whose first pass there was handed back in the period and judged by
    the QC gate, how many of them it sent back to that stage for that pass: in its round 1, or later before the
    photo was worked there again). ``by``: "stage", "actor" (the automatic worker
    too) or "order".

    A photo's round-1 pass at a stage is one work item with one hand-back, and ``blamed`` holds each (photo,
    stage) once: plain counts are photo counts, no DISTINCT needed."""
    rejected, redone = EVENTS.alias("rejected"), EVENTS.alias("redone")
    # the stage's round-1 work was what QC sent back: no later pass of the photo there came before the rejection
    # (QC may blame it in its own round 2, after sending the photo back to another stage first)
    again_before = select(redone.c.id).where(
        redone.c.photo_id == rejected.c.photo_id, redone.c.stage == rejected.c.blamed_stage,
        redone.c.kind == K.SUBMITTED, redone.c.round > 1, redone.c.id < rejected.c.id).exists()
    blamed = select(rejected.c.photo_id, rejected.c.blamed_stage).where(
        rejected.c.kind == K.REJECTED, rejected.c.stage == QC_GATE, rejected.c.work_item_id.is_not(None),
        ~again_before).distinct().subquery("blamed")
    decided = EVENTS.alias("decided")        # QC has judged the photo's first round: a pass not judged yet is
    judged = select(decided.c.photo_id).where(  # neither a first-pass success nor a failure (it read as a success)
        decided.c.kind.in_([K.PASSED, K.REJECTED]), decided.c.stage == QC_GATE, decided.c.round == 1,
        decided.c.work_item_id.is_not(None)).distinct().subquery("judged")
    keys = [EVENTS.c.stage] + {"stage": [], "actor": [EVENTS.c.actor], "order": [EVENTS.c.order_id]}[by]
    rows = session.execute(
        select(*keys, func.count(), func.count(blamed.c.photo_id))
        .select_from(EVENTS.join(judged, judged.c.photo_id == EVENTS.c.photo_id)
                     .outerjoin(blamed, and_(blamed.c.photo_id == EVENTS.c.photo_id,
                                             blamed.c.blamed_stage == EVENTS.c.stage)))
        .where(EVENTS.c.kind == K.SUBMITTED, EVENTS.c.round == 1, *scope.events(EVENTS), *where)
        .group_by(*keys)
    ).all()
    return {tuple(row[:-2]): (row[-2], row[-1]) for row in rows}


def stage_keys(line: Line, found: set[str]) -> list[str]:
    """The rows' order: ingest, the line's stages, any other stage found (an older line's), the gate, delivery."""
    line_keys = [s.key for s in line.stages]
    others = sorted(found - set(line_keys) - set(PSEUDO_TITLES))
    return [INGEST, *line_keys, *others, QC_GATE, DELIVERY]


def stage_rows(session: Session, scope: Scope, line: Line, *, titles: dict[str, str] | None = None,
               days: float | None = None, detail: bool = True, now: datetime | None = None,
               first_passes: dict[tuple, tuple[int, int]] | None = None) -> list[StageRow]:
    """One row per stage (``scope.stage``: that one only), titled from ``titles`` (default: the line's).
    ``detail`` False leaves out the queue waits and the work in progress: what `postline status` does not show."""
    titles = titles or (PSEUDO_TITLES | {s.key: s.title for s in line.stages})
    counts = _counts(session, scope)
    sent_back = _sent_back(session, scope)
    held = _held(session, scope)
    spreads = _times(session, scope)
    fpy: dict[tuple, tuple[int, int]] = {}
    for (stage, _), (first, back) in (first_passes or first_pass_rows(session, scope, by="actor")).items():
        before = fpy.get((stage,), (0, 0))
        fpy[(stage,)] = (before[0] + first, before[1] + back)
    waits = _waits(session, scope) if detail else {}
    wip = _wip(session, scope, now or utcnow(), counts) if detail else {}
    found = {s for s, _, _ in counts} | set(sent_back) | set(wip)
    keys = [k for k in stage_keys(line, found) if scope.stage in (None, k)]
    rows = []
    for key in keys:
        row = StageRow(key, titles.get(key, key), work_stage=key not in PSEUDO_TITLES, days=days)

        def get(kind: K, photo_level: bool = False, stage: str = key) -> tuple[int, int]:
            return counts.get((stage, kind, photo_level), (0, 0))
        if key == INGEST:
            row.finished_passes, row.finished = get(K.INGESTED, True)
            row.failed = _refused_for_good(session, scope)  # refused: unreadable, not a photo, a link...
            set_aside = get(K.SET_ASIDE, True)[1]           # duplicates: not a failure of the file or the line
            row.entered = _ingested_or_not(session, scope)  # a refused file copied again counts once
            row.entered_passes = row.finished_passes + row.failed + set_aside
        elif key == DELIVERY:
            row.finished_passes, row.finished = get(K.DELIVERED, True)
            row.entered_passes, row.entered = get(K.PASSED, True, QC_GATE)
        else:
            row.entered_passes, row.entered = get(K.ENQUEUED)
            # the gate finishes a photo when it passes it, or a lead lets it pass once it held it
            row.finished_passes, row.finished = get(K.PASSED, True) if key == QC_GATE else get(K.SUBMITTED)
            row.failed = get(K.FAILED)[1]
            row.rejections, row.sent_back = get(K.REJECTED) if key == QC_GATE else sent_back.get(key, (0, 0))
            if key == QC_GATE:      # a check the gate finished is a decision, a rejection as much as a pass
                row.finished_passes += row.rejections
            row.held = sum(held.values()) if key == QC_GATE else held.get(key, 0)
            row.wip = wip.get(key, 0)
            touch, machine = spreads.get((key, 1)), spreads.get((key, 0))
            row.people_passes, row.people_seconds = (touch[0], touch[3]) if touch else (0, 0.0)
            row.machine_passes, row.machine_seconds = (machine[0], machine[3]) if machine else (0, 0.0)
            row.touch = Spread(*touch[:3]) if touch else Spread()
            row.machine = Spread(*machine[:3]) if machine else Spread()
            row.wait = Spread(*waits[key][:3]) if key in waits else Spread()
            if key == QC_GATE and detail:
                row.lead_wait = _lead_waits(session, scope)
            row.first_passes, row.first_passes_sent_back = fpy.get((key,), (0, 0))
        rows.append(row)
    return rows
