"""A QC lead's decision on the web page, given to a real paused Prefect run: a decision that names a stage (or
a photo) that is not there is refused on the page before it reaches the run, nothing is recorded and the run
stays paused; the next, valid decision is applied, and the page says exactly what was applied."""

from __future__ import annotations

import json
import re
import threading
import time
from uuid import UUID

import httpx
import pytest
from sqlmodel import select

from config.line import get_line
from flows.qc_gate import qc_gate_flow
from qc.review import QC
from record import moves, people, queue, rounds, work
from record.db import transaction
from record.models import QC_GATE, EventKind, Photo, PhotoStatus, StageEvent, WorkItem, WorkStatus
from surfaces.actions.queue import hand_back as submit_work
from surfaces.web import create_app
from tests.browser import served
from tests.flowkit import paused_run
from tests.test_web import LINE, PASSWORD, edited, seed_order

GATE_LINE = LINE + "\n[qc_gate]\nhuman_review = true\n"


@pytest.fixture
def gate_line(tmp_path, monkeypatch, home, prefect_api):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    yield from _gate_line(tmp_path, monkeypatch, home)


@pytest.fixture
def gate_line_no_run(tmp_path, monkeypatch, home):
    yield from _gate_line(tmp_path, monkeypatch, home)


def _gate_line(tmp_path, monkeypatch, home):  # noqa: ANN001, ANN202
    line_file = tmp_path / "line.toml"
    line_file.write_text(GATE_LINE)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(line_file))
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    get_line.cache_clear()
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=PASSWORD)
        people.add_person(session, name="maria", role="lead", skills="", password=PASSWORD)
    yield home
    get_line.cache_clear()


def at_the_gate(home, tmp_path) -> int:
    """An order whose two photos were retouched by rita and now wait at the QC gate for the lead."""
    ids = seed_order(home)
    for item_id in ids:
        queue.pull(person="rita", stages=["liquify_skin"])
        submit_work(item_id=item_id, person="rita", file=edited(item_id, tmp_path))
    with transaction() as session:
        order_id = session.get(WorkItem, ids[0]).order_id
        for item_id in ids:
            done = session.get(WorkItem, item_id)
            gate = moves.enqueue(session, order_id=order_id, photo_id=done.photo_id, stage=QC_GATE, round=1,
                                 input_path=done.output_path, actor="postline-auto")
            rounds.await_lead(session, work.claim_queued(session, gate.id))     # checked: waits for the lead
    return order_id


def paused(order_id: int) -> bool:
    return paused_run(order_id, QC_GATE) is not None


def gate_events(order_id: int) -> list[tuple[str, str, str | None]]:
    with transaction() as session:
        return [(e.kind.value, e.reason or "", e.blamed_stage) for e in work.events(session, order_id)
                if e.stage == QC_GATE and e.kind in (EventKind.PASSED, EventKind.REJECTED)]


def gate_run_paused(order_id: int) -> tuple[threading.Thread, dict]:
    """The order's QC gate run, in a thread, once it has paused for the lead; its counts land in the dict."""
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("counts", qc_gate_flow(order_id)), daemon=True)
    runner.start()
    deadline = time.monotonic() + 120
    while not paused(order_id):
        assert runner.is_alive() and time.monotonic() < deadline, "the QC gate's run never paused for the lead"
        time.sleep(0.2)
    return runner, result


def rows(html: str) -> dict[str, str]:
    """The order page's review form: photo name -> its row index."""
    return {name: index for index, name in re.findall(r'name="photo-(\d+)" value="([^"]+)"', html)}


def test_a_qc_decision_naming_an_unknown_stage_is_refused_and_the_paused_run_takes_the_next(gate_line, tmp_path):
    order_id = at_the_gate(gate_line, tmp_path)
    runner, result = gate_run_paused(order_id)

    with served(create_app()) as base:
        lead = httpx.Client(base_url=base, timeout=60)
        token = re.search(r'name="csrf" value="([^"]+)"', lead.get("/signin").text).group(1)
        assert lead.post("/signin", data={"name": "maria", "password": PASSWORD, "csrf": token}).status_code == 303
        page = lead.get(f"/orders/{order_id}/qc").text
        form = rows(page)
        assert sorted(form) == ["DSC_0001.dng", "DSC_0002.dng"]
        # a send-back goes by default to the stage people worked (Liquify & skin), not the automatic last one
        assert re.findall(r'<option value="([^"]+)" selected>', page) == ["liquify_skin"] * 2
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)

        def decision(**reasons: tuple[str, str]) -> dict:
            data = {"csrf": token}
            for name, index in form.items():
                reason, stage = reasons.get(name.removesuffix(".dng"), ("pass", "cull_grade"))
                data |= {f"photo-{index}": name, f"reason-{index}": reason, f"stage-{index}": stage}
            return data

        unknown_stage = lead.post(f"/orders/{order_id}/qc", data=decision(DSC_0001=("colour_cast", "nowhere")))
        assert unknown_stage.status_code == 422
        error = re.search(r'id="decision-error">([^<]+)<', unknown_stage.text).group(1)
        assert "no stage &#39;nowhere&#39; in the order&#39;s line" in error and "Nothing was applied." in error
        assert "took the decision" not in unknown_stage.text

        time.sleep(2.5)                              # longer than the run's poll: it was not woken, it waits still
        assert paused(order_id) and runner.is_alive() and gate_events(order_id) == []

        tampered = decision(DSC_0001=("colour_cast", "fine_retouch"))
        tampered[f"photo-{form['DSC_0002.dng']}"] = "DSC_9999.dng"
        again = lead.post(f"/orders/{order_id}/qc", data=tampered)
        assert again.status_code == 422 and "changed since this page was loaded" in again.text
        assert paused(order_id) and gate_events(order_id) == []

        valid = lead.post(f"/orders/{order_id}/qc", data=decision(DSC_0001=("over_smoothed_skin", "liquify_skin")))
        assert valid.status_code == 200
        done = re.search(r'id="decided">([^<]+)<', valid.text).group(1)
        # the run applies it within seconds; on a starved machine it may take longer than the page waits, and the
        # page then says it applies it when it next looks (the record below shows it did)
        took = f"Order {order_id}&#39;s flow run took the decision"
        assert done in (f"{took}, applied it and carries on: 1 passed; DSC_0001.dng sent back to Liquify &amp; "
                        "skin (over_smoothed_skin).",
                        f"{took} and carries on; it applies it when it next looks (within 1 s): 1 passed; "
                        "DSC_0001.dng sent back to Liquify &amp; skin (over_smoothed_skin).")

    runner.join(timeout=60)
    assert not runner.is_alive() and result["counts"] == {"passed": 1, "rejected": 1}   # no "refused" round
    events = gate_events(order_id)
    assert {(kind, blamed) for kind, _, blamed in events} == {("passed", None), ("rejected", "liquify_skin")}
    assert [reason for kind, reason, _ in events if kind == "rejected"] == ["[over_smoothed_skin] DSC_0001.dng"]
    with transaction() as session:
        [again] = work.items_in(session, order_id, "liquify_skin")
        photos = {p.source_name: p.status for p in work.photos(session, order_id)}
    assert again.round == 2 and again.status is WorkStatus.QUEUED and photos["DSC_0002.dng"] is PhotoStatus.PASSED


def test_the_command_line_refuses_a_decision_naming_what_is_not_there(gate_line_no_run, tmp_path, capsys):
    from surfaces.cli import main

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    assert main(["qc", "decide", str(order_id), "--reject", "DSC_0001.dng:colour_cast:nowhere",
                 "--reject", "DSC_0404.dng:exposure:fine_retouch", "--as", "maria"]) == 2
    error = capsys.readouterr().err
    assert "not waiting for review: 'DSC_0404.dng'" in error and "no stage 'nowhere'" in error
    assert "Nothing was applied." in error and gate_events(order_id) == []
    assert main(["qc", "decide", str(order_id), "--reject", "DSC_0001.dng:colour_cast:fine_retouch",
                 "--reject", "DSC_0001.dng:exposure:cull_grade", "--as", "maria"]) == 2
    assert "listed more than once: 'DSC_0001.dng'" in capsys.readouterr().err and gate_events(order_id) == []
    assert main(["qc", "decide", str(order_id), "--reject", "DSC_0001.dng:dust:liquify_skin:a speck",
                 "--as", "maria"]) == 2              # a reason not in the taxonomy: named with its photo
    error = capsys.readouterr().err
    assert "error: --reject DSC_0001.dng: reason 'dust': Input should be 'over_smoothed_skin'" in error
    assert "rejections.0" not in error and "Nothing was applied." in error and gate_events(order_id) == []

    assert main(["qc", "decide", str(order_id), "--reject", "DSC_0001.dng:colour_cast:fine_retouch",
                 "--as", "maria"]) == 0
    said = capsys.readouterr().out
    assert "recorded directly: 1 passed; DSC_0001.dng sent back to Fine retouch & colour (colour_cast)" in said
    # people work no stage from Fine retouch on (MANUAL_SKIN_LINE): the lead is told it comes back as it went
    assert "Note: DSC_0001.dng will come back as it went: people work no stage from there on" in said
    assert {kind for kind, _, _ in gate_events(order_id)} == {"passed", "rejected"}
    assert main(["qc", "decide", str(order_id), "--approve-all", "--as", "maria"]) == 2     # nothing waits now
    assert "no photo of this order is waiting" in capsys.readouterr().err


def test_the_review_page_sends_a_photo_back_by_default_to_the_last_stage_it_went_through(gate_line_no_run, tmp_path):
    """A photo the client did not choose went through grading only: sending it back to the retouchers' stage, the
    page's default for the others, would have them retouch a photo nobody asked for."""
    from tests.test_web import client_for

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with transaction() as session:
        photo = work.add_photo(session, Photo(order_id=order_id, source_name="DSC_0003.dng", sha256="3" * 64,
                                              size_bytes=1000, status=PhotoStatus.INGESTED), first_stage=None)
        first = session.exec(select(WorkItem).where(WorkItem.order_id == order_id)).first()
        graded = moves.enqueue(session, order_id=order_id, photo_id=photo.id, stage="cull_grade", round=1,
                               input_path=first.input_path, actor="postline-auto")
        work.claim_queued(session, graded.id)
        gate = moves.enqueue(session, order_id=order_id, photo_id=photo.id, stage=QC_GATE, round=1,
                             input_path=first.input_path, actor="postline-auto")
        rounds.await_lead(session, work.claim_queued(session, gate.id))     # checked: waits for the lead
    page = client_for("maria").get(f"/orders/{order_id}/qc").text
    chosen = dict(zip(re.findall(r'name="photo-\d+" value="([^"]+)"', page),
                      re.findall(r'<option value="([^"]+)" selected>', page), strict=True))
    assert chosen == {"DSC_0001.dng": "liquify_skin", "DSC_0002.dng": "liquify_skin", "DSC_0003.dng": "cull_grade"}
    # the stages after the last one people work make a photo sent back there again as it was: the page says so
    stage_select = re.search(r'<select name="stage-0">(.*?)</select>', page).group(1)
    offered = dict(re.findall(r'<option value="([^"]+)"(?: selected)?>([^<]+)</option>', stage_select))
    assert offered == {"cull_grade": "Cull &amp; grade", "liquify_skin": "Liquify &amp; skin",
                       "fine_retouch": "Fine retouch &amp; colour (automatic: comes back as it went)",
                       "design_layout": "Design &amp; layout (automatic: comes back as it went)"}


def test_queue_stages_shows_the_qc_gate_waiting_for_the_lead(gate_line_no_run, tmp_path, capsys):
    from surfaces.cli import main

    at_the_gate(gate_line_no_run, tmp_path)
    capsys.readouterr()
    assert main(["queue", "stages"]) == 0
    out = capsys.readouterr().out
    row = next(r for r in out.splitlines() if r.startswith("QC gate"))
    assert row.split()[2:6] == ["QC", "lead", "-", "0"] and row.split()[6] == "2"     # 2 claimed: the lead's
    assert "QC gate: 2 photo(s) claimed there wait for the QC lead's decision" in out
    assert "qc_gate" not in out and "Liquify & skin" in out


def test_photos_waiting_for_the_lead_are_not_put_back_in_the_queue_when_a_lease_runs_out(gate_line, tmp_path):
    """The automatic checks passed the photos to the lead holding them claimed with the automatic worker's
    30-minute lease: after half an hour (any `queue pull`, housekeeping) they went back to the gate's queue, the
    lead's decision was refused (nothing waiting) and the run waited on. They wait for the lead as long as it takes."""
    from datetime import timedelta

    from presets.model import load_preset
    from qc.review import QC
    from record.models import utcnow
    from surfaces.actions import gates

    order_id = at_the_gate(gate_line, tmp_path)
    with transaction() as session:                     # as the line leaves them: queued at the gate, not checked
        work.get_order(session, order_id).preset_json = load_preset("neutral").model_dump_json()
        for item in work.items_in(session, order_id, QC_GATE, WorkStatus.CLAIMED):
            moves.move_item(session, item, WorkStatus.QUEUED, actor="postline-auto")
    runner, result = gate_run_paused(order_id)
    with transaction() as session:
        assert queue.reap_expired(session, now=utcnow() + timedelta(hours=3)) == 0     # the lead back from lunch
    assert sorted(gates.pending(QC, order_id)) == ["DSC_0001.dng", "DSC_0002.dng"]
    from qc.review import QcDecision

    gates.decide(order_id, QcDecision(approve_all=True, lead="maria"))
    runner.join(timeout=120)
    assert result["counts"] and {kind for kind, _, _ in gate_events(order_id)} == {"passed"}


def test_the_review_page_shows_the_photos_qc_held_and_a_lead_passes_or_sends_one_back(gate_line_no_run, tmp_path):
    """A photo QC held after the allowed rework waited for a lead whom no page showed it: the review page lists
    the held photos (the picture QC checked, and why), and a lead passes one as it is or sends it back a round
    with a note, as `postline qc held` does."""
    from tests.test_web import client_for

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with transaction() as session:
        for gate in QC.waiting(session, order_id).values():
            rounds.hold(session, gate, stage="liquify_skin", actor="postline-auto", reason="[clipping] too bright",
                        held_because="too bright; still failing after 1 rework round(s): a QC lead must look")
    lead = client_for("maria")
    page = lead.get(f"/orders/{order_id}/qc").text
    assert 'id="held"' in page and page.count('class="held-photo"') == 2 and "a QC lead must look" in page
    shown = re.findall(r'<img src="(/orders/\d+/qc/\d+/after.jpg)" alt="held: ([^"]+)"', page)
    assert [name for _, name in shown] == ["DSC_0001.dng", "DSC_0002.dng"]
    assert lead.get(shown[0][0]).headers["content-type"] == "image/jpeg"             # the picture QC checked
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    refused = lead.post(f"/orders/{order_id}/qc/held", data={"csrf": token, "photo": "nope.dng", "action": "pass"})
    assert refused.status_code == 422 and "not held: nope.dng (no such photo)" in refused.text
    passed = lead.post(f"/orders/{order_id}/qc/held", data={"csrf": token, "photo": "DSC_0001.dng", "action": "pass"})
    assert passed.status_code == 200 and "1 passed as it is (DSC_0001.dng)" in passed.text
    sent = lead.post(f"/orders/{order_id}/qc/held", data={"csrf": token, "photo": "DSC_0002.dng", "action": "send",
                                                          "stage": "liquify_skin", "note": "the sky by hand"})
    assert sent.status_code == 200 and "DSC_0002.dng sent back to Liquify &amp; skin" in sent.text
    assert 'id="held"' not in sent.text                                                # none left held
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        again = session.exec(select(WorkItem).where(WorkItem.photo_id == photos["DSC_0002.dng"].id,
                                                    WorkItem.stage == "liquify_skin", WorkItem.round == 2)).one()
    assert photos["DSC_0001.dng"].status is PhotoStatus.PASSED and photos["DSC_0002.dng"].status is PhotoStatus.INGESTED
    assert again.status is WorkStatus.QUEUED and "the sky by hand" in again.reason
    assert client_for("rita").post(f"/orders/{order_id}/qc/held", data={"csrf": token, "photo": "DSC_0001.dng",
                                                                        "action": "pass"}).status_code in (403, 303)


def test_the_report_says_how_long_photos_waited_for_the_lead_s_decision(gate_line_no_run, tmp_path):
    """The QC gate's queue wait ends when its automatic checks start; the time a photo then waits for the lead's
    review (the lead's decision) was nowhere in the report, though a lead away for a day is the order's delay."""
    from datetime import timedelta

    from qc.review import PhotoRejection, QcDecision
    from tests.flowkit import cli

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    code, before = cli("report")
    assert code == 0 and "lead's decision" not in before            # no lead has decided: no such columns
    with transaction() as session:                # the checks ended 10 and 50 minutes before the lead decides
        for item, minutes in zip(QC.waiting(session, order_id).values(), (10, 50), strict=True):
            claim = session.exec(select(StageEvent).where(StageEvent.work_item_id == item.id,
                                                          StageEvent.kind == EventKind.CLAIMED)).one()
            claim.at -= timedelta(minutes=minutes)
            session.add(claim)
    with transaction() as session:
        QC.record(session, order_id, QcDecision(approve_all=False, lead="maria", rejections=[PhotoRejection(
            photo="DSC_0002.dng", reason="over_smoothed_skin", send_back_to="liquify_skin", note="the cheek")]))
    code, said = cli("report", "--format", "json", "--by", "stage")
    assert code == 0, said
    gate = next(row for row in json.loads(said) if row["stage"] == QC_GATE)
    assert round(gate["lead_decision_seconds_median"] / 60) == 10 and round(gate["lead_decision_seconds_p90"] / 60) == 50
    code, table = cli("report", "--by", "stage")
    row = [line for line in table.splitlines() if line.startswith("QC gate")][-1]     # the time table's
    assert "lead's decision median" in table and row.split()[-4:] == ["10", "min", "50", "min"], table


def _form_said(run_id: UUID, after: dict | None = None) -> tuple[dict, str]:
    """The keys and the text of the form the paused run shows now (once it is another than ``after``)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(run_id).state
            keys = state.state_details.run_input_keyset if state.is_paused() else None
            if keys and keys != after:
                try:
                    return keys, json.loads(client.read_flow_run_input(run_id, keys["description"]))
                except PrefectHTTPStatusError:      # the run pauses first, then saves its form: a moment later
                    pass
            assert time.monotonic() < deadline, "the run never paused again with a new form"
            time.sleep(0.2)


def test_a_decision_the_run_refused_from_its_resume_form_is_said_on_the_form_it_shows_next(gate_line, tmp_path):
    """A lead giving the decision in the Prefect UI's Resume form (resume_flow_run with run_input) with a photo that
    does not wait, or under a name that is not a lead's (the form's default 'qc-lead'), saw the run pause again with
    the very same form: the refusal was in the run's logs only, and the lead took the decision as given. The next
    form now starts with why the last one was not applied."""
    from prefect.client.orchestration import get_client

    order_id = at_the_gate(gate_line, tmp_path)
    runner, result = gate_run_paused(order_id)
    with transaction() as session:
        run_id = UUID(work.get_order(session, order_id).flow_run_id)
    keys, said = _form_said(run_id)
    assert said.startswith("## QC review") and "not applied" not in said

    wrong = {"approve_all": False, "lead": "maria", "rejections": [
        {"photo": "DSC_9999.dng", "reason": "exposure", "send_back_to": "liquify_skin"}]}
    with get_client(sync_client=True) as client:
        client.resume_flow_run(run_id, run_input=wrong)
    keys, said = _form_said(run_id, after=keys)
    assert said.startswith(f"**Your last decision was not applied**, nothing of it: order {order_id}: not waiting "
                           "for review: 'DSC_9999.dng' (waiting: DSC_0001.dng, DSC_0002.dng). Nothing was applied. "
                           "Decide again below.\n\n## QC review"), said

    with get_client(sync_client=True) as client:
        client.resume_flow_run(run_id, run_input={"approve_all": True, "rejections": [], "lead": "qc-lead"})
    keys, said = _form_said(run_id, after=keys)
    assert said.startswith("**Your last decision was not applied**, nothing of it: lead 'qc-lead': nobody of that "
                           "name works on the line"), said
    assert gate_events(order_id) == []

    with get_client(sync_client=True) as client:
        client.resume_flow_run(run_id, run_input={"approve_all": True, "rejections": [], "lead": "maria"})
    runner.join(timeout=60)
    assert not runner.is_alive() and result["counts"] == {"passed": 2, "rejected": 0, "refused": 2}
    assert {kind for kind, _, _ in gate_events(order_id)} == {"passed"}


def test_qc_pending_lists_the_photos_by_card_name(gate_line_no_run, tmp_path):
    from tests.flowkit import cli

    order_id = at_the_gate(gate_line_no_run, tmp_path)
    with transaction() as session:                  # a photo that reached the gate last, first by its name
        first = session.exec(select(WorkItem).where(WorkItem.order_id == order_id)).first()
        photo = work.add_photo(session, Photo(order_id=order_id, source_name="DSC_0000.dng", sha256="0" * 64,
                                              size_bytes=1000, status=PhotoStatus.INGESTED), first_stage=None)
        gate = moves.enqueue(session, order_id=order_id, photo_id=photo.id, stage=QC_GATE, round=1,
                             input_path=first.input_path, actor="postline-auto")
        rounds.await_lead(session, work.claim_queued(session, gate.id))
    code, said = cli("qc", "pending", str(order_id))
    assert code == 0 and [line.strip() for line in said.splitlines() if line.strip().startswith("DSC_")] == [
        "DSC_0000.dng", "DSC_0001.dng", "DSC_0002.dng"], said
