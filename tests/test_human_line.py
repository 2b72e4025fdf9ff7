"""The human line end to end: a manual stage whose photos retoucher pull and hand back while the order's
flow run waits (paused, visible through the Prefect API), a QC lead rejecting two photos through the same
input the Prefect UI form gives, rework in round 2, and delivery."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from qc.review import PhotoRejection, QcDecision, ReviewReason
from record import people, work
from record.db import transaction
from record.models import QC_GATE, EventKind, PhotoStatus
from surfaces.actions.gates import decide
from tasks.synthetic import write_card
from tasks.verify import verify
from tests.flowkit import MANUAL_SKIN_LINE, retouch_everything, wait_until_paused

# Liquify & skin needs two skills here (a stage names what it needs), so the retoucher's pulls go through them.
LINE = MANUAL_SKIN_LINE.replace('mode = "manual"', 'mode = "manual"\nskills = ["liquify", "skin"]', 1) + """
[qc_gate]
human_review = true
"""


@pytest.fixture
def human_line(line_file, monkeypatch, home, prefect_api):
    line_file(LINE)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)


def test_manual_stage_waits_for_retouchers_and_qc_lead_sends_two_back(human_line, tmp_path):
    card = write_card(tmp_path / "card", 4)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify,skin", password="s3cret-pass")
        people.add_person(session, name="maria", role="lead", skills="", password=None)
    from surfaces.actions.orders import create_order
    from flows.order import order_flow

    order_id = create_order(client="Lena", shoot="portrait", card=card, preset_name=None, due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("package", order_flow(order_id)), daemon=True)
    runner.start()

    assert wait_until_paused(order_id, "liquify_skin", runner) == f"Liquify & skin · order {order_id}"
    assert len(retouch_everything("rita", tmp_path / "rita")) == 4

    wait_until_paused(order_id, QC_GATE, runner)
    with transaction() as session:
        names = sorted(p.source_name for p in work.photos(session, order_id))
    decision = QcDecision(approve_all=False, lead="maria", rejections=[
        PhotoRejection(photo=names[0], reason=ReviewReason.OVER_SMOOTHED_SKIN, send_back_to="liquify_skin",
                       note="pores gone on the cheeks"),
        PhotoRejection(photo=names[1], reason=ReviewReason.COLOUR_CAST, send_back_to="fine_retouch"),
    ])
    assert "carries on" in decide(order_id, decision)

    wait_until_paused(order_id, "liquify_skin", runner)                # round 2 of the photo sent back to people
    assert retouch_everything("rita", tmp_path / "rita") == [f"{_photo_id(order_id, names[0])}:r2"]
    wait_until_paused(order_id, QC_GATE, runner)
    decide(order_id, QcDecision(approve_all=True, lead="maria"))
    runner.join(timeout=120)
    assert verify(Path(result["package"])) == []                 # a whole package, as its manifest says

    with transaction() as session:
        photos = work.photos(session, order_id)
        events = work.events(session, order_id)
    assert all(p.status is PhotoStatus.DELIVERED for p in photos)
    rejections = [e for e in events if e.kind is EventKind.REJECTED and e.stage == QC_GATE]
    assert {(e.blamed_stage, e.reason.split("]")[0] + "]", e.actor) for e in rejections} == {
        ("liquify_skin", "[over_smoothed_skin]", "maria"), ("fine_retouch", "[colour_cast]", "maria")}
    assert "pores gone" in next(e.reason for e in rejections if e.blamed_stage == "liquify_skin")
    round2 = Counter(e.stage for e in events if e.kind is EventKind.SUBMITTED and e.round == 2)
    assert round2 == {"liquify_skin": 1, "fine_retouch": 2, "design_layout": 2}
    by_rita = [e for e in events if e.kind is EventKind.SUBMITTED and e.actor == "rita"]
    assert len(by_rita) == 5 and all(e.seconds is not None for e in by_rita)


def _photo_id(order_id: int, name: str) -> int:
    with transaction() as session:
        return next(p.id for p in work.photos(session, order_id) if p.source_name == name)
