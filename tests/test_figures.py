"""The ops manager's figures on a hand-written event log (tests/eventlog.py), each answer worked out by hand
below, on SQLite and on PostgreSQL.

The period is October 2026 (UTC). October 2026: Thu 1, Fri 2, [Sat 3, Sun 4], Mon 5 (holiday), Tue 6 ... Fri 30,
[Sat 31]. Working days: 22 weekdays - 1 holiday = 21. "Now" is Monday 2 November 2026, 08:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import SQLModel, select

from config.calendar import HolidaysFileError, WorkCalendar, get_calendar, read_holidays
from config.line import load_line
from record.db import get_engine, transaction
from record.figures.report import Report, build_report
from record.figures.scope import Scope
from record.models import Photo, PhotoStatus, ShootType
from tests.eventlog import HOLIDAYS, LINE_TOML, october
from tests.pg import postgres_url  # noqa: F401

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CALENDAR = WorkCalendar((date(2026, 10, 5),))
OCTOBER = Scope.days(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(params=["sqlite", "postgresql"])
def record_url(request, home, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'figures.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        engine = get_engine(url)
        SQLModel.metadata.drop_all(engine)
        SQLModel.metadata.create_all(engine)
    with transaction(url) as session:
        october(session)
    return url


@pytest.fixture
def line(tmp_path):
    path = tmp_path / "line.toml"
    path.write_text(LINE_TOML)
    return load_line(path)


def report(url: str | None, line, scope: Scope = OCTOBER, **kw) -> Report:
    with transaction(url) as session:
        return build_report(session, scope, CALENDAR, line=line, now=NOW, **kw)


def rows(rep: Report) -> dict[str, dict]:
    return {r["stage"]: r for r in rep.to_dict()["stages"]}


def test_stage_flow_counts_photos_with_passes_apart(record_url, line):
    s = rows(report(record_url, line))
    # Ingest: a1-a3, b1-b2, c1-c4, d1-d6 taken in (15), B3.dng refused (1).
    assert (s["ingest"]["entered_photos"], s["ingest"]["finished_photos"], s["ingest"]["failed_photos"]) == (16, 15, 1)
    cg = s["cull_grade"]
    # Enqueued in October: a1-a3 r1, a2 r2, b1-b2 r1, b2 r2, c1-c4, d1-d6 = 17 passes of 15 photos
    # (e1's pass was in September; Z's in 2025).
    assert (cg["entered_photos"], cg["entered_passes"]) == (15, 17)
    # Handed back: a1-a3, a2 r2, b1, b2, c1-c4 = 10 passes of 9 photos ("passed" counts photos, not passes).
    assert (cg["finished_photos"], cg["finished_passes"]) == (9, 10)
    # Sent back with grading blamed: a2 (Oct 1), b2 (Oct 9); b2's re-grade failed (bad file).
    assert (cg["sent_back_photos"], cg["rejections"], cg["held_photos"], cg["failed_photos"]) == (2, 2, 0, 1)
    # Open at the end of October: 17 enqueued - 10 handed back - 1 failed - 1 cancelled (d6 culled) = d1-d5.
    assert cg["wip_items"] == 5
    ls = s["liquify_skin"]
    # a1-a3 r1, a3 r2, a2 r2, b1-b2, c1-c4 = 11 passes of 9 photos.
    assert (ls["entered_photos"], ls["entered_passes"]) == (9, 11)
    # a1, a2, a3, a3 r2 (rita), a2 r2, b1 (sam), b2 (rita) = 7 passes of 5 photos; c1 is handed back on 1 November.
    assert (ls["finished_photos"], ls["finished_passes"]) == (5, 7)
    # a3 sent back twice (one photo, two rejections) and held after the second.
    assert (ls["sent_back_photos"], ls["rejections"], ls["held_photos"], ls["failed_photos"]) == (1, 2, 1, 0)
    # 11 enqueued - 7 handed back = c1 (claimed by sam) + c2-c4 (queued).
    assert ls["wip_items"] == 4
    qc = s["qc_gate"]
    # Enqueued: a1, a2, a3, a2 r2, a3 r2, b1, b2 = 7 passes of 5 photos; passed a1, a2 r2, b1, e1 (Oct 13) and
    # a3, held, which the lead let pass (Oct 6): what delivery takes in.
    assert (qc["entered_photos"], qc["entered_passes"], qc["finished_photos"]) == (5, 7, 5)
    # Rejected a2, a3, a3 r2, b2: 4 rejections of 3 photos; a3 held. Open at the end: 8 enqueued - 8 decided.
    assert (qc["rejections"], qc["sent_back_photos"], qc["held_photos"], qc["wip_items"]) == (4, 3, 1, 0)
    # The gate's finished passes are its decisions: the 5 passes (a1, a2 r2, b1, e1; the lead's of a3) and the 4
    # rejections.
    assert qc["finished_passes"] == 9
    # Passed QC in October: a1, a2, a3 (the lead, Oct 6), b1, e1 -> 5; delivered a1, a2, a3, b1, e1 -> 5.
    assert (s["delivery"]["entered_photos"], s["delivery"]["finished_photos"]) == (5, 5)


def test_throughput_people_per_touch_hour_machines_apart_and_per_calendar_day(record_url, line):
    s = rows(report(record_url, line))
    cg, ls = s["cull_grade"], s["liquify_skin"]
    # Grading is the automatic worker's: no photos per hour (no 54,545/h); its machine seconds instead.
    assert cg["people_passes_per_touch_hour"] is None and cg["people_passes"] == 0
    # Machine seconds 2, 3, 4, 5, 3, 6, 1, 1, 1, 1 -> ordered 1,1,1,1,2,3,3,4,5,6: median = rank ceil(5) = 2,
    # p90 = rank ceil(9) = 5.
    assert (cg["machine_passes"], cg["machine_seconds_median"], cg["machine_seconds_p90"]) == (10, 2.0, 5.0)
    # Skin: 1800 + 1200 + 3600 + 1800 + 2400 + 3600 + 3600 = 18000 s = 5 h of touch time for 7 passes: 1.4/h.
    assert (ls["people_passes"], ls["people_touch_hours"], ls["people_passes_per_touch_hour"]) == (7, 5.0, 1.4)
    # Touch times ordered 1200, 1800, 1800, 2400, 3600, 3600, 3600: median rank 4 = 2400, p90 rank ceil(6.3) = 7.
    assert (ls["touch_seconds_median"], ls["touch_seconds_p90"]) == (2400.0, 3600.0)
    # Per calendar day: 9 / 31 and 5 / 31 photos finished.
    assert (cg["photos_per_calendar_day"], ls["photos_per_calendar_day"]) == (round(9 / 31, 4), round(5 / 31, 4))


def test_queue_wait_median_and_p90(record_url, line):
    s = rows(report(record_url, line))
    # Grading: 9 items waited 600 s (08:50 -> 09:00), a2 r2 19 h = 68400 s, b2 r2 0 s: ordered 0, 600 x9, 68400:
    # median rank ceil(5.5) = 6 -> 600, p90 rank ceil(9.9) = 10 -> 600.
    assert (s["cull_grade"]["queue_wait_seconds_median"], s["cull_grade"]["queue_wait_seconds_p90"]) == (600, 600)
    # Skin (enqueued in October and claimed): a1 3600, a2 7200, a3 10800, a3 r2 68400 (14:00 -> 09:00), a2 r2
    # 3600, b1 18000 (10:00 -> 15:00), b2 601200 (Oct 2 10:00 -> Oct 9 09:00), c1 345600 (4 days); c2-c4 never.
    # Ordered: 3600, 3600, 7200, 10800, 18000, 68400, 345600, 601200: median rank 4 = 10800, p90 rank 8 = 601200.
    assert (s["liquify_skin"]["queue_wait_seconds_median"], s["liquify_skin"]["queue_wait_seconds_p90"]) == (
        10800, 601200)
    # Gate: a1 12600, a2 9600, a3 3600, a2 r2 1200, a3 r2 5400, b1 579600, b2 3600: median rank 4 of
    # 1200, 3600, 3600, 5400, ... = 5400; p90 rank 7 = 579600.
    assert (s["qc_gate"]["queue_wait_seconds_median"], s["qc_gate"]["queue_wait_seconds_p90"]) == (5400, 579600)


def test_rework_by_stage_blamed_and_by_reason_counts_a_multi_reason_rejection_once_per_each(record_url, line):
    rep = report(record_url, line)
    rework = rep.to_dict()["rework"]
    # Rejections in October: a2 [clipped,colour_cast] -> grading; a3 [over_smoothed_skin] -> skin, twice;
    # b2 [look_lost] -> grading. d6's cull in the review of originals is not a QC send-back.
    assert rework["rejections_by_stage"] == {"cull_grade": 2, "liquify_skin": 2}
    assert {(r["stage"], r["reason"]): r["rejections"] for r in rework["by_stage_and_reason"]} == {
        ("cull_grade", "clipped"): 1, ("cull_grade", "colour_cast"): 1, ("cull_grade", "look_lost"): 1,
        ("liquify_skin", "over_smoothed_skin"): 2}
    # 4 rejections carry 5 reasons: a2's one rejection counts once for grading and once under each reason.
    assert (rework["rejections"], rework["reasons_given"]) == (4, 5)
    assert {r["month"] for r in rework["monthly"]} == {"2026-10"}
    s = rows(rep)
    # Rework rate: photos sent back / photos finished: grading 2/9, skin 1/5.
    assert (s["cull_grade"]["rework_rate"], s["liquify_skin"]["rework_rate"]) == (round(2 / 9, 4), 0.2)


def test_first_pass_yield_per_stage_and_rolled_yield_per_order(record_url, line):
    rep = report(record_url, line)
    s = rows(rep)
    # Grading's round-1 hand-backs in October: a1-a3, b1, b2, c1-c4; of them QC has judged a1-a3, b1, b2 (c1-c4
    # have not reached it: counted, they read as passed first time) = 5; sent back in round 1 with grading
    # blamed: a2, b2 -> 3/5. Skin's: a1-a3, b1, b2 = 5, all judged; sent back to skin in round 1: a3 -> 4/5 (b2
    # was grading's fault, not skin's).
    assert (s["cull_grade"]["first_pass_photos"], s["cull_grade"]["first_pass_sent_back"]) == (5, 2)
    assert s["cull_grade"]["first_pass_yield"] == 0.6 and s["liquify_skin"]["first_pass_yield"] == 0.8
    rolled = {o["client"]: o["rolled_yield"] for o in rep.to_dict()["orders"]["delivered"]}
    # A: grading 2/3 (a2) x skin 2/3 (a3) = 4/9; B: grading 1/2 (b2) x skin 2/2 = 1/2; E: 1 x 1.
    assert rolled == {"Anna & Ben": round(4 / 9, 4), "Chloe": 0.5, "Eve": 1.0}
    # The order list is every order delivered whatever the stage or person: so is each order's rolled yield (with
    # --retoucher sam, A read 0.0%, with --stage qc_gate every order "-").
    for narrowed in ({"retoucher": "sam"}, {"stage": "qc_gate"}, {"stage": "liquify_skin", "retoucher": "rita"}):
        filtered = report(record_url, line, OCTOBER.model_copy(update=narrowed)).to_dict()["orders"]["delivered"]
        assert {o["client"]: o["rolled_yield"] for o in filtered} == rolled, narrowed


def _blamed_in_round_two(record_url: str, p1_reason: str, *, p2_again_by: str) -> int:
    """Order Dana: rita works P1 and P2 at skin in round 1. QC sends P1 back to layout, then in its round 2 to
    skin (``p1_reason``) for rita's round-1 pass; P2 back to grading, redone at skin by ``p2_again_by`` in round 2,
    which QC blames. Its id."""
    from tests.eventlog import Log

    cg, ls, dl = "cull_grade", "liquify_skin", "design_layout"
    with transaction(record_url) as session:
        log = Log(session)
        order = log.order("Dana", ShootType.PORTRAIT, "classic-portrait", "2026-10-20 08:00")
        p1, p2 = (log.photo(order, f"P{i}.dng", PhotoStatus.DELIVERED, "2026-10-20 08:00") for i in (1, 2))
        for photo in (p1, p2):
            log.work(order, photo, cg, 1, "2026-10-20 08:00", "2026-10-20 08:01", "2026-10-20 08:02", seconds=1)
            log.work(order, photo, ls, 1, "2026-10-20 08:02", "2026-10-20 09:00", "2026-10-20 09:30", "rita")
            log.work(order, photo, dl, 1, "2026-10-20 09:30", "2026-10-20 09:31", "2026-10-20 09:32", seconds=1)
        log.gate(order, p1, 1, "2026-10-20 09:32", "2026-10-20 10:00", reason="[layout] P1.dng", blamed=dl)
        log.work(order, p1, dl, 2, "2026-10-20 10:00", "2026-10-20 10:01", "2026-10-20 10:02", seconds=1)
        log.gate(order, p1, 2, "2026-10-20 10:02", "2026-10-20 11:00", reason=f"[{p1_reason}] P1.dng",
                 blamed=ls)
        log.gate(order, p2, 1, "2026-10-20 09:32", "2026-10-20 10:00", reason="[exposure] P2.dng", blamed=cg)
        log.work(order, p2, cg, 2, "2026-10-20 10:00", "2026-10-20 10:01", "2026-10-20 10:02", seconds=1)
        log.work(order, p2, ls, 2, "2026-10-20 10:02", "2026-10-20 10:30", "2026-10-20 10:45", p2_again_by)
        log.work(order, p2, dl, 2, "2026-10-20 10:45", "2026-10-20 10:46", "2026-10-20 10:47", seconds=1)
        log.gate(order, p2, 2, "2026-10-20 10:47", "2026-10-20 11:00", reason="[over_smoothed_skin] P2.dng",
                 blamed=ls)
    return order


def test_a_first_pass_qc_blames_only_after_a_send_back_elsewhere_is_not_a_first_pass_success(record_url):
    """QC sent p1 back to a stage after skin (a no-op round there), then, in its round 2, to skin for rita's round-1
    work: skin's first-pass yield said 100%, as the rejection was in QC's round 2. p2 was sent back to grading
    first and redone at skin (round 2): the round-2 blame is its second pass's, not its first's."""
    from record.figures.stages import first_pass_rows

    cg, ls, dl = "cull_grade", "liquify_skin", "design_layout"
    order = _blamed_in_round_two(record_url, "over_smoothed_skin", p2_again_by="rita")
    with transaction(record_url) as session:
        by_stage = first_pass_rows(session, Scope(order_id=order))
        by_person = first_pass_rows(session, Scope(order_id=order), by="actor")
    # skin: two first passes judged; p1's sent back (in QC's round 2), p2's not (its round 2 was blamed)
    assert by_stage[(ls,)] == (2, 1) and by_person[(ls, "rita")] == (2, 1)
    assert by_stage[(cg,)] == (2, 1) and by_stage[(dl,)] == (2, 1)


def test_a_rejection_blamed_in_a_later_round_counts_for_whoever_did_the_pass_blamed(record_url, line):
    """QC sent p1 back to layout first, then, in its round 2, to skin for rita's round-1 pass: with --retoucher
    rita the skin row said sent back 0 and no reasons (the rejection's round, 2, had no skin pass of hers), while
    her first-pass yield counted it. p2's round-2 rejection blames sam's round-2 pass, not rita's first one."""
    ls = "liquify_skin"
    order = _blamed_in_round_two(record_url, "liquify_distortion", p2_again_by="sam")
    # rita handed back p1 and p2 at skin, sam p2 again: one send-back each, over two photos and one
    for person, reason, rate in (("rita", "liquify_distortion", 0.5), ("sam", "over_smoothed_skin", 1.0)):
        rep = report(record_url, line, Scope(order_id=order, retoucher=person))
        assert rep.rework.by_reason == {(ls, reason): 1}, person
        assert (rows(rep)[ls]["sent_back_photos"], rows(rep)[ls]["rework_rate"]) == (1, rate), person


def test_retouchers_output_per_day_worked_first_pass_yield_and_trend_on_the_year(record_url, line):
    rep = report(record_url, line)
    people = {r["person"]: r for r in rep.to_dict()["retouchers"]["rows"]}
    assert set(people) == {"rita", "sam"}      # maria passed a held photo, lena culled one: no hand-backs
    rita, sam = people["rita"], people["sam"]
    # rita: a1, a2, a3 (Oct 1), a3 r2 (Oct 2), b2 (Oct 9): 5 passes of 4 photos on 3 days -> 5/3 a day;
    # 12000 s = 3.33 h of touch -> 1.5 an hour; round 1: a1, a2, a3, b2, a3 sent back to her stage -> 3/4.
    assert (rita["passes"], rita["photos"], rita["days_worked"]) == (5, 4, 3)
    assert (rita["per_day_worked"], rita["per_touch_hour"], rita["first_pass_yield"]) == (round(5 / 3, 4), 1.5, 0.75)
    # A year earlier (October 2025): z1 (Oct 1), z2 (Oct 2): 1 a day; z2 sent back -> 1/2.
    assert (rita["earlier"]["per_day_worked"], rita["earlier"]["first_pass_yield"]) == (1.0, 0.5)
    # Trend: (5/3) / 1 - 1 = +66.7% output a day; first-pass yield +25 points.
    assert (rita["output_change"], rita["first_pass_yield_change"]) == (round(2 / 3, 4), 0.25)
    # sam: a2 r2 and b1 on Oct 2: 2 passes, 1 day, 6000 s -> 1.2 an hour, b1 right first time; nothing in 2025.
    assert (sam["passes"], sam["per_day_worked"], sam["per_touch_hour"], sam["first_pass_yield"]) == (2, 2.0, 1.2, 1.0)
    assert sam["earlier"] is None and sam["output_change"] is None
    # Against a chosen period instead: September 2026 (rita handed back e1 on the 30th): 1 a day -> +66.7%.
    chosen = report(record_url, line, earlier=Scope.days(date(2026, 9, 1), date(2026, 9, 30)))
    rita_sept = next(r for r in chosen.retouchers if r.person == "rita")
    assert (rita_sept.earlier.passes, rita_sept.earlier.days_worked, rita_sept.earlier.first_pass_yield) == (1, 1, 1.0)


def test_turnaround_in_working_days_against_due_date_and_promise_and_revision_rounds(record_url, line):
    orders = report(record_url, line).to_dict()["orders"]
    got = {o["client"]: (o["working_days"], o["late_vs_due_working_days"], o["over_promise"])
           for o in orders["delivered"]}
    # A: in Thu Oct 1, first delivered Fri Oct 2 -> 1 working day; due Oct 20: on time.
    # B: in Fri Oct 2, out Mon Oct 12: Sat 3, Sun 4 weekend, Mon 5 holiday, Tue 6 - Fri 9 (4), Mon 12 -> 5;
    #    due Thu Oct 8: late by Fri 9 and Mon 12 = 2 working days.
    # E: in Tue Sep 1, out Wed Oct 14: Sep 2-30 = 21 working days, Oct 1-14 = 10 weekdays - Oct 5 = 9 -> 30
    #    (over the 25-day promise); due Fri Oct 9: late by Oct 12, 13, 14 = 3. Z was delivered in 2025.
    assert got == {"Anna & Ben": (1, None, False), "Chloe": (5, 2, False), "Eve": (30, 3, True)}
    late = {o["order"] for o in orders["delivered"] if o["client"] in ("Chloe", "Eve")}
    assert set(orders["late_vs_due"]) == late and len(orders["over_promise"]) == 1
    # Client revision rounds: A 1, B 0, E 2 -> 3 / 3 = 1.0 per order, against the 1.5 target.
    assert (orders["revision_rounds_per_order"], orders["revision_rounds_target"]) == (1.0, 1.5)


def test_revision_rounds_of_a_past_period_stay_as_they_were_at_its_end(record_url, line):
    """Chloe asked for changes to b1 on 1 November (round 1), again before it was delivered (the same round),
    and once more after (round 2): October's figure went from 1.0 to 1.67 rounds per order, though nothing in
    October changed."""
    from record.models import CLIENT_REVIEW, Order
    from tests.eventlog import K, Log

    with transaction(record_url) as session:
        log = Log(session)
        chloe = session.exec(select(Order).where(Order.client == "Chloe")).one()
        chloe.revisions = 2
        b1 = session.exec(select(Photo).where(Photo.source_name == "B1.dng")).one()
        for at, revision in (("2026-11-01 09:00", 1), ("2026-11-01 10:00", 1), ("2026-11-01 12:00", 2)):
            if revision == 2:
                log.deliver(chloe.id, b1.id, "2026-11-01 11:00")
            log.event(chloe.id, b1.id, None, CLIENT_REVIEW, 1 + revision, K.REVISED, at, "client",
                      reason=f"client revision {revision}")
    october = report(record_url, line).to_dict()["orders"]
    assert october["revision_rounds_per_order"] == 1.0            # A 1, B 0, E 2 at the end of October
    assert {o["client"]: o["revision_rounds"] for o in october["delivered"]}["Chloe"] == 0
    to_now = report(record_url, line, Scope.days(date(2026, 10, 1), None)).to_dict()["orders"]
    assert to_now["revision_rounds_per_order"] == round(5 / 3, 4)   # B's two rounds since
    assert report(record_url, line, Scope.days(date(2026, 10, 1), date(2026, 11, 1))).revision_rounds == 5 / 3


def test_forecast_from_work_in_progress_and_throughput_flags_the_order_that_will_miss(record_url, line):
    fc = report(record_url, line).to_dict()["forecast"]
    # λ: photos through QC in October (a1, a2, a3, b1, e1) = 5 over 21 working days. L: photos in the line
    # now: C's c1-c4 and D's d1-d5 (d6 culled) = 9. W = L/λ = 9 x 21 / 5 = 37.8 working days.
    assert (fc["photos_passed"], fc["working_days"], fc["photos_in_line"], fc["lead_working_days"]) == (5, 21, 9, 37.8)
    # Served rush first: D (5 photos): ceil(5 x 21 / 5) = 21 working days after Mon Nov 2 -> Tue Dec 1 (due
    # Dec 31: fine). Then C: ceil(9 x 21 / 5) = ceil(37.8) = 38 -> Thu Dec 24, after its due date Dec 1.
    got = [(o["client"], o["photos_ahead"], o["finish"], o["will_miss_due"]) for o in fc["orders"]]
    assert got == [("Finn", 0, "2026-12-01", False), ("Dan", 5, "2026-12-24", True)]


def test_an_order_whose_run_stopped_is_forecast_with_its_photos_in_the_line(record_url, line):
    """Order F's run was stopped while its three photos waited for skin (the order failed): the forecast said
    "(none)" and L = 0 while the queues held them."""
    from record.models import OrderStatus
    from tests.eventlog import Log

    with transaction(record_url) as session:
        log = Log(session)
        f = log.order("Gil", ShootType.PORTRAIT, "classic-portrait", "2026-10-28 08:50", due=date(2026, 11, 10),
                      status=OrderStatus.FAILED)
        for i in (1, 2, 3):
            photo = log.photo(f, f"F{i}.dng", PhotoStatus.INGESTED, "2026-10-28 08:50")
            log.work(f, photo, "cull_grade", 1, "2026-10-28 08:50", "2026-10-28 09:00", "2026-10-28 09:00",
                     seconds=1)
            log.work(f, photo, "liquify_skin", 1, "2026-10-28 09:00")
        done = log.order("Hal", ShootType.PORTRAIT, "classic-portrait", "2026-10-28 08:50", due=date(2026, 11, 10),
                         status=OrderStatus.FAILED)        # delivered, then a re-run stopped: nothing in the line
        log.photo(done, "H1.dng", PhotoStatus.DELIVERED, "2026-10-28 08:50")
    fc = report(record_url, line).to_dict()["forecast"]
    assert "Hal" not in [o["client"] for o in fc["orders"]]
    assert fc["photos_in_line"] == 12                       # C's 4, D's 5 and F's 3
    # D (rush, 5) first, then F (due Nov 10): ceil(8 x 21 / 5) = 34 working days after Mon Nov 2 -> Fri Dec 18.
    got = [(o["client"], o["photos_left"], o["photos_ahead"], o["finish"], o["will_miss_due"]) for o in fc["orders"]]
    assert got[:2] == [("Finn", 5, 0, "2026-12-01", False), ("Gil", 3, 5, "2026-12-18", True)]


def test_forecast_simple_case(home):
    """Five working days, 50 photos through QC: λ = 10 a day. X (rush, 20 photos, due the next working day)
    needs 2 days: it will miss; Y (30 photos, due in 10 working days) follows: ceil(50 / 10) = 5 days."""
    from tests.eventlog import Log
    from record.models import OrderStatus, PhotoStatus

    with transaction() as session:
        log = Log(session)
        done = log.order("Done", ShootType.PORTRAIT, "neutral", "2026-06-01 08:00")
        for i in range(50):                     # Mon 1 - Fri 5 June 2026, ten a day
            photo = log.photo(done, f"P{i}.dng", PhotoStatus.DELIVERED, "2026-06-01 08:00")
            log.gate(done, photo, 1, "2026-06-01 08:00", f"2026-06-0{1 + i // 10} 12:00")
        x = log.order("X", ShootType.PORTRAIT, "neutral", "2026-06-05 08:00", due=date(2026, 6, 9),
                      status=OrderStatus.RUNNING, rush=True)
        y = log.order("Y", ShootType.PORTRAIT, "neutral", "2026-06-05 08:00", due=date(2026, 6, 19),
                      status=OrderStatus.RUNNING)
        for order, n in ((x, 20), (y, 30)):
            for i in range(n):
                log.photo(order, f"Q{order}-{i}.dng", PhotoStatus.INGESTED, "2026-06-05 08:00")
    with transaction() as session:        # now: Monday 8 June
        rep = build_report(session, Scope.days(date(2026, 6, 1), date(2026, 6, 5)), WorkCalendar(),
                           now=datetime(2026, 6, 8, 9, tzinfo=UTC))
    assert rep.forecast.rate == 10.0 and rep.forecast.lead_days == 5.0
    assert [(o.client, o.finish, o.will_miss) for o in rep.forecast.orders] == [
        ("X", date(2026, 6, 10), True), ("Y", date(2026, 6, 15), False)]


def test_photos_through_qc_per_client_and_shoot_count_a_held_photo_a_lead_let_pass(record_url, line):
    """A's a3 was held, then passed by the lead (Oct 6) and delivered: "photos through QC 2" for A's client, as
    the gate counted only its own passes."""
    rep = report(record_url, line)
    clients = {g.key: (g.photos_passed, g.photos_sent_back, g.photos_decided) for g in rep.groups["client"]}
    # A: a1, a2 (r2), a3 (the lead) through QC; a2, a3 sent back; 3 decided. B: b1 through, b2 sent back. E: e1.
    assert clients == {"Anna & Ben": (3, 2, 3), "Chloe": (1, 1, 2), "Eve": (1, 0, 1)}
    assert {g.key: g.photos_passed for g in rep.groups["shoot"]} == {"wedding": 3, "portrait": 1, "children": 1}


def test_filters_by_stage_retoucher_shoot_preset_and_client(record_url, line):
    only_skin = report(record_url, line, OCTOBER.model_copy(update={"stage": "liquify_skin"}))
    assert [r.stage for r in only_skin.stages] == ["liquify_skin"]
    assert only_skin.rework.rejections == {"liquify_skin": 2}
    sam = rows(report(record_url, line, OCTOBER.model_copy(update={"retoucher": "sam"})))
    # sam's items: a2 r2, b1 (handed back), c1 (claimed, open at the end of October); no send-back blamed on them.
    assert (sam["liquify_skin"]["entered_passes"], sam["liquify_skin"]["finished_passes"],
            sam["liquify_skin"]["sent_back_photos"], sam["liquify_skin"]["wip_items"]) == (3, 2, 0, 1)
    assert sam["cull_grade"]["finished_passes"] == 0
    rita = report(record_url, line, OCTOBER.model_copy(update={"retoucher": "rita"}))
    assert rita.rework.rejections == {"liquify_skin": 2}        # a3's two send-backs were on her passes
    portrait = report(record_url, line, OCTOBER.model_copy(update={"shoot": ShootType.PORTRAIT}))
    for rep in (portrait, report(record_url, line, OCTOBER.model_copy(update={"preset": "classic-portrait"})),
                report(record_url, line, OCTOBER.model_copy(update={"client": "Chloe"}))):
        s = rows(rep)                  # order B only: b1, b2 graded; b2 sent back to grading
        assert (s["cull_grade"]["finished_photos"], s["cull_grade"]["sent_back_photos"]) == (2, 1)
        assert [o.client for o in rep.delivered] == ["Chloe"] and rep.rework.total_reasons == 1


def test_held_photos_read_the_same_with_the_stage_chosen(record_url, line):
    """a3, held after skin's second send-back: --stage qc_gate said the gate held 0, the whole report 1."""
    for stage in ("qc_gate", "liquify_skin"):
        only = rows(report(record_url, line, OCTOBER.model_copy(update={"stage": stage})))
        assert only[stage]["held_photos"] == 1, stage


def test_work_in_progress_now_differs_from_the_end_of_the_period(record_url, line):
    now = rows(report(record_url, line, Scope.days(date(2026, 10, 1), None)))
    # By Nov 2 08:00, sam handed c1 back (Nov 1) and it waits at the gate.
    assert (now["liquify_skin"]["wip_items"], now["qc_gate"]["wip_items"]) == (3, 1)


def test_a_failed_photo_put_back_is_work_in_progress_again_until_it_is_handed_back(record_url, line):
    """`postline order retry` queues the failed item again (a RELEASED event, not a new ENQUEUED): b2's grading,
    failed on Oct 9, put back on Oct 20, graded again on Oct 21. WIP said -1 after the rerun (one enqueue, one
    failure, one hand-back) and 0 between the retry and the rerun, while b2 was queued."""
    from record.models import WorkItem, WorkStatus
    from tests.eventlog import K, Log

    with transaction(record_url) as session:
        log = Log(session)
        item = session.exec(select(WorkItem).where(WorkItem.stage == "cull_grade", WorkItem.round == 2,
                                                   WorkItem.status == WorkStatus.FAILED)).one()
        log.event(item.order_id, item.photo_id, None, "cull_grade", 2, K.RETRIED, "2026-10-20 09:00", "maria")
        log.event(item.order_id, item.photo_id, item.id, "cull_grade", 2, K.RELEASED, "2026-10-20 09:00", "maria",
                  reason="put back in the line by maria after failing: unreadable")
        log.claim(item.order_id, item.photo_id, item.id, "cull_grade", 2, "2026-10-20 09:00", "2026-10-21 09:00")
        log.event(item.order_id, item.photo_id, item.id, "cull_grade", 2, K.SUBMITTED, "2026-10-21 09:00", seconds=2)
        item.status = WorkStatus.SUBMITTED
    wip = (lambda scope: rows(report(record_url, line, scope))["cull_grade"]["wip_items"])
    assert wip(OCTOBER) == 5                                             # d1-d5, as before the failure
    assert wip(Scope.days(None, date(2026, 10, 31), client="Chloe")) == 0
    assert wip(Scope.days(date(2026, 10, 1), date(2026, 10, 20))) == 1  # b2, queued again on the 20th
    assert wip(Scope.days(date(2026, 10, 10), date(2026, 10, 20), client="Chloe")) == 1


def test_a_period_not_started_yet_is_the_period_asked_and_says_so(record_url, line):
    """--since 2026-12-10 on 2 November: the headline said "2026-11-02 to 2026-11-02" with zeros."""
    from record.figures.views import forecast_view, headline

    rep = report(record_url, line, Scope.days(date(2026, 12, 10), None))
    assert headline(rep).startswith("Production report, 2026-12-10 to 2026-12-10 (1 day, 1 working day; UTC), "
                                    "not started yet (today is 2026-11-02).")
    assert forecast_view(rep).note == "the period has not started: no throughput to forecast with"
    # Thu 10, Fri 11, Mon 14 - Fri 18: 7 working days of 11
    rep = report(record_url, line, Scope.days(date(2026, 12, 10), date(2026, 12, 20)))
    assert (rep.first_day, rep.last_day, rep.calendar_days, rep.working_days) == (
        date(2026, 12, 10), date(2026, 12, 20), 11, 7)


def test_sqlite_and_postgresql_give_the_same_report(postgres_url, home, tmp_path, line):  # noqa: F811
    reports = []
    for url in (f"sqlite:///{tmp_path / 'same.db'}", postgres_url):
        engine = get_engine(url)
        SQLModel.metadata.drop_all(engine)
        SQLModel.metadata.create_all(engine)
        with transaction(url) as session:
            october(session)
        reports.append(report(url, line).to_dict())
    assert reports[0] == reports[1]


def test_holidays_come_from_the_holidays_file_and_a_bad_line_is_named(tmp_path, monkeypatch, home):
    from config.settings import get_settings

    path = tmp_path / "holidays.txt"
    path.write_text(HOLIDAYS + "\n# Christmas\n2026-12-25\n")
    monkeypatch.setenv("POSTLINE_HOLIDAYS_FILE", str(path))
    get_settings.cache_clear()
    calendar = get_calendar()
    assert calendar.holidays == (date(2026, 10, 5), date(2026, 12, 25))
    # Fri Oct 2 -> Tue Oct 6: Mon 5 is a holiday, so 1 working day (Tue 6); without holidays 2.
    assert calendar.turnaround(date(2026, 10, 2), date(2026, 10, 6)) == 1
    assert WorkCalendar().turnaround(date(2026, 10, 2), date(2026, 10, 6)) == 2
    path.write_text("2026-10-05\n5 October\n")
    with pytest.raises(HolidaysFileError, match=r"holidays.txt, line 2: '5 October' is not a date"):
        read_holidays(path)


def test_rejections_recorded_before_reason_rows_are_backfilled(home, line):
    """A record from before stage_event_reasons: its rejections count as 'unspecified' until
    record.reasons.backfill reads their codes from the reason text (the migration runs it)."""
    from sqlmodel import delete

    from record.models import StageEventReason
    from record.reasons import backfill

    with transaction() as session:
        october(session)
        session.exec(delete(StageEventReason))
    assert report(None, line).rework.by_reason == {("cull_grade", "unspecified"): 2,
                                                   ("liquify_skin", "unspecified"): 2}
    with transaction() as session:
        # QC: a2, a3 twice, b2 (October), z2 (2025); and d6's cull in the review of originals ([blurred])
        assert backfill(session) == 6
        assert backfill(session) == 0          # done once
    assert report(None, line).rework.total_reasons == 5


def test_a_period_still_running_is_compared_with_the_same_days_a_year_earlier():
    """`--since 2026-11-01` alone (a period running to today) was compared with nothing ("against no earlier
    period"), though only a report of the whole record has none."""
    from record.figures.report import year_earlier

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    earlier = year_earlier(Scope(since=datetime(2026, 11, 1, tzinfo=UTC)), now)
    assert (earlier.since, earlier.until) == (datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 2, 12, 0, tzinfo=UTC))
    assert year_earlier(Scope(), now) is None                                  # the whole record: none
