"""One Gate abstraction (qc/gates.py) for every place a person decides on an order's photos: a flow waits with
it and the surfaces' action gives it decisions, the same object on both sides. Another gate is a small subclass:
one is made here (a pick of favourites of its own, beside the real client selection of qc/selection.py) and used
end to end through a real paused run. A gate's thumbnails show as small pictures in the real Prefect UI's Resume
form."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.input import RunInput
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from config.line import Line
from flows.waiting import wait_for_decision
from qc import gates
from qc.gates import DecisionError, Gate, listing_problems
from qc.originals import ORIGINALS
from record import work
from record.db import transaction
from record.models import EventKind, Photo, PhotoStatus, ShootType, StageEvent
from surfaces.actions.gates import decide
from surfaces.cli import main

SELECTION = "test_favourites"


class Pick(BaseModel):
    photo: str
    note: str = Field("", max_length=200)


class SelectionDecision(RunInput):
    approve_all: bool = True
    favourites: list[Pick] = Field(default_factory=list)
    client: str = "client"


@dataclass(frozen=True)
class SelectionPlan:
    chosen: tuple[str, ...]
    photo_ids: tuple[int, ...]

    def summary(self) -> str:
        return f"{len(self.chosen)} chosen"

    def counts(self) -> dict[str, int]:
        return {"chosen": len(self.chosen)}


class ClientSelection(Gate):
    """The client picks favourites: each photo chosen gets a PASSED event at the pseudo-stage 'client_selection',
    the others a REJECTED one."""
    key, title, waits = SELECTION, "Client selection", "photo waiting for the client"
    decision, listed, by = SelectionDecision, "favourites", "client"

    def enabled(self, line: Line) -> bool:
        return True

    def waiting(self, session: Session, order_id: int) -> dict[str, Photo]:
        seen = set(session.exec(select(StageEvent.photo_id).where(StageEvent.stage == SELECTION)).all())
        return {p.source_name: p for p in work.photos(session, order_id, PhotoStatus.INGESTED) if p.id not in seen}

    def check(self, session: Session, order_id: int, decision: SelectionDecision) -> SelectionPlan:
        waiting = self.waiting(session, order_id)
        problems = listing_problems(list(waiting), [p.photo for p in decision.favourites])
        if problems:
            raise DecisionError("; ".join(problems))
        chosen = [p.photo for p in decision.favourites] or list(waiting)
        return SelectionPlan(tuple(chosen), tuple(p.id for p in waiting.values()))

    def record(self, session: Session, order_id: int, decision: SelectionDecision) -> None:
        chosen = self.check(session, order_id, decision).chosen
        for name, photo in self.waiting(session, order_id).items():
            session.add(StageEvent(order_id=order_id, photo_id=photo.id, stage=SELECTION, actor=decision.client,
                                   kind=EventKind.PASSED if name in chosen else EventKind.REJECTED))

    def decided(self, session: Session, plan: SelectionPlan) -> bool:
        return bool(session.exec(select(StageEvent.id).where(StageEvent.stage == SELECTION)).first())

    def describe(self, order_id: int, photos: list[str]) -> str:
        return f"Pick favourites of order {order_id}: " + ", ".join(photos)


@pytest.fixture
def order_id(home):
    with transaction() as session:
        order = work.create_order(session, client="Gates", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        for name in ("A.dng", "B.dng", "C.dng"):
            work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=name.ljust(64, "0"),
                                          size_bytes=1, status=PhotoStatus.INGESTED, original_path=f"/{name}"),
                           first_stage="cull_grade")
    return order.id


@pytest.fixture
def selection():
    gate = gates.register(ClientSelection())
    yield gate
    gates._REGISTERED.pop(SELECTION)


@flow(name="client-selection")
def selection_flow(order_id: int) -> dict[str, int]:
    return wait_for_decision(order_id, gates.gates()[SELECTION])


def test_a_third_gate_waits_in_a_flow_and_takes_the_decision_the_surfaces_give(order_id, selection, prefect_api,
                                                                                monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("counts", selection_flow(order_id)), daemon=True)
    runner.start()
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while True:
            assert runner.is_alive() and time.monotonic() < deadline, "the flow never waited at the gate"
            with transaction() as session:
                order = work.get_order(session, order_id)
            if order.waiting_on == SELECTION and client.read_flow_run(UUID(order.flow_run_id)).state.is_paused():
                break
            time.sleep(0.2)
    assert selection.awaiting(order_id) == ["A.dng", "B.dng", "C.dng"]
    with pytest.raises(DecisionError, match="not waiting for review: 'Z.dng'"):
        decide(order_id, selection.build(listed=[{"photo": "Z.dng"}], by="anna"))      # refused, nothing given
    said = decide(order_id, selection.build(listed=[{"photo": "B.dng", "note": "album cover"}], by="anna"))
    assert "took the decision" in said and "1 chosen" in said
    runner.join(timeout=60)
    assert result["counts"] == {"chosen": 1}
    with transaction() as session:
        picked = session.exec(select(StageEvent).where(StageEvent.stage == SELECTION,
                                                       StageEvent.kind == EventKind.PASSED)).all()
        assert [(session.get(Photo, e.photo_id).source_name, e.actor) for e in picked] == [("B.dng", "anna")]
        assert work.get_order(session, order_id).waiting_on is None


def test_the_cli_decides_at_a_gate_with_no_waiting_run_through_the_gate_itself(order_id, capsys):
    """`postline review pending|decide` ask the gate the flow waits with: what it lists, what it applies."""
    assert main(["review", "pending", str(order_id)]) == 0
    assert capsys.readouterr().out.split("\n")[1:4] == ["  A.dng", "  B.dng", "  C.dng"]
    assert main(["review", "decide", str(order_id), "--cull", "C.dng:blurred", "--as", "sergei"]) == 0
    assert "recorded directly: 2 approved; C.dng culled (blurred)" in capsys.readouterr().out
    assert ORIGINALS.awaiting(order_id) == []
    with transaction() as session:
        statuses = {p.source_name: p.status for p in work.photos(session, order_id)}
    assert statuses == {"A.dng": PhotoStatus.INGESTED, "B.dng": PhotoStatus.INGESTED, "C.dng": PhotoStatus.CULLED}
    assert main(["status", str(order_id)]) == 0                       # status names what was culled, and why
    assert (f"Culled in the review of the originals: 1 photo(s) (blurred 1): `postline status {order_id} --all` "
            "lists each") in capsys.readouterr().out
    assert main(["status", str(order_id), "--all"]) == 0
    assert "  [blurred] C.dng culled by sergei" in capsys.readouterr().out
    assert main(["review", "decide", str(order_id), "--approve-all"]) == 2          # nothing waits now
    assert "no photo of this order is waiting" in capsys.readouterr().err


def test_once_the_studio_lists_its_people_a_decision_is_given_as_one_of_its_leads(order_id, capsys):
    """`--as nobody` was recorded as given, and the report counted decisions by 'nobody'. With people listed, the
    command line asks for a lead, as the web page does; nothing is applied otherwise."""
    from record import people

    with transaction() as session:
        people.add_person(session, name="sergei", role="lead", skills="", password="correct horse battery")
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="correct horse battery")
    assert main(["review", "decide", str(order_id), "--cull", "C.dng:blurred", "--as", "nobody"]) == 2
    assert "--as nobody: nobody of that name works on the line; give the lead who decides (leads: sergei" \
        in capsys.readouterr().err
    assert main(["review", "decide", str(order_id), "--approve-all", "--as", "rita"]) == 1
    assert "retouchers do not give decisions at a gate; a lead does (leads: sergei)" in capsys.readouterr().err
    assert ORIGINALS.awaiting(order_id) == ["A.dng", "B.dng", "C.dng"]          # nothing was applied
    assert main(["review", "decide", str(order_id), "--cull", "C.dng:blurred", "--as", "sergei"]) == 0


def test_a_decision_culling_a_weddings_hundreds_says_how_many_for_each_reason():
    from qc.originals import Plan

    few = Plan(approved=("A.dng",), culled=(("B.dng", "blurred"),), photo_ids=(1, 2))
    assert few.summary() == "1 approved; B.dng culled (blurred)"
    culled = tuple((f"IMG_{n:04d}.dng", "duplicate_pose" if n % 3 else "rejected_by_photographer") for n in range(12))
    many = Plan(approved=("A.dng",), culled=culled, photo_ids=tuple(range(13)))
    assert many.summary() == "1 approved; 12 culled: 8 duplicate pose, 4 rejected by photographer"


def test_a_decision_names_a_photo_by_its_file_name_alone_and_a_refusal_lists_ten_of_those_waiting(home, capsys):
    """On a real card every photo's name has its folder (100CANON/IMG_0008.CR3): `review decide --cull
    IMG_0008.cr3:blurred` names it as `order revise` and `order bw` do; a name that is two photos' or none is refused
    naming ten of those waiting and how many more, not all of a wedding's hundreds in one line."""
    names = [f"100CANON/IMG_{n:04d}.CR3" for n in range(1, 15)] + ["101CANON/IMG_0001.CR3"]
    with transaction() as session:
        order = work.create_order(session, client="Folders", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        for name in names:
            work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=name.ljust(64, "0")[:64],
                                          size_bytes=1, status=PhotoStatus.INGESTED, original_path=f"/{name}"),
                           first_stage="cull_grade")
    assert main(["review", "decide", str(order.id), "--cull", "IMG_0001.CR3:blurred"]) == 2      # two of that name
    err = capsys.readouterr().err
    assert "not waiting for review: 'IMG_0001.CR3' (waiting: 100CANON/IMG_0001.CR3, 100CANON/IMG_0002.CR3" in err
    assert "100CANON/IMG_0010.CR3 and 5 more: the gate's `pending` command lists them" in err and "IMG_0011" not in err
    assert ORIGINALS.awaiting(order.id) == names                      # nothing was applied
    assert main(["review", "decide", str(order.id), "--cull", "img_0008.cr3:blurred:soft"]) == 0
    assert "100CANON/IMG_0008.CR3 culled (blurred)" in capsys.readouterr().out
    with transaction() as session:
        culled = [p.source_name for p in work.photos(session, order.id) if p.status is PhotoStatus.CULLED]
    assert culled == ["100CANON/IMG_0008.CR3"]


def test_a_decision_from_the_runs_resume_form_is_a_leads_as_on_the_command_line(order_id):
    """The Prefect UI's Resume form took any name as who decides (its default 'senior-photographer', nobody; a
    retoucher passing their own work): the flow applies a decision the way the command line checks it."""
    from record import people

    with transaction() as session:
        people.add_person(session, name="maria", role="lead", skills="", password=None)
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    with pytest.raises(DecisionError, match=r"reviewer 'rita': retouchers do not give decisions at a gate; a lead "
                                            r"does \(leads: maria\)"):
        ORIGINALS.apply(order_id, ORIGINALS.build(listed=[], by="rita"))
    with pytest.raises(DecisionError, match="reviewer 'senior-photographer': nobody of that name works on the line"):
        ORIGINALS.apply(order_id, ORIGINALS.build(listed=[], by="senior-photographer"))
    assert ORIGINALS.awaiting(order_id) == ["A.dng", "B.dng", "C.dng"]          # nothing was applied
    ORIGINALS.apply(order_id, ORIGINALS.build(listed=[{"photo": "C.dng", "reason": "blurred"}], by="maria"))
    assert ORIGINALS.awaiting(order_id) == []


def test_a_qc_rejections_region_names_its_photo_by_file_name_alone_too(monkeypatch):
    """`--reject DSC_0003.dng:... --region DSC_0003.dng:BOX` with 100NIKON/DSC_0003.dng waiting: the rejection was
    mapped to the card name and its region was not, so the region was refused as going with no rejection."""
    import argparse

    from surfaces.actions import gates as actions
    from surfaces.cli import gates as cli_gates

    monkeypatch.setattr(actions, "pending", lambda gate, order_id: ["100NIKON/DSC_0003.dng"])
    command = next(c for c in cli_gates.COMMANDS if c.name == "qc")
    args = argparse.Namespace(order_id=1, reject=[{"photo": "DSC_0003.dng", "reason": "dust_blemish_missed",
                                                   "send_back_to": "fine_retouch", "note": ""}],
                              region=[("DSC_0003.dng", "0.25,0.1,0.5,0.3")], outline=[("dsc_0003.DNG", "0,0;1,0;1,1")])
    cli_gates._by_waiting_names(command, args)
    assert args.reject[0]["photo"] == "100NIKON/DSC_0003.dng"
    assert args.region == [("100NIKON/DSC_0003.dng", "0.25,0.1,0.5,0.3")]
    assert args.outline == [("100NIKON/DSC_0003.dng", "0,0;1,0;1,1")]


class Look(RunInput):
    approve_all: bool = True


@flow(name="gate-form-look")
def paused_with(text: str) -> None:
    from prefect.flow_runs import pause_flow_run

    pause_flow_run(wait_for_input=Look.with_initial_data(description=text), timeout=300, poll_interval=1)


def test_a_gates_form_shows_each_photo_as_a_small_picture_in_the_prefect_ui(home, tmp_path, monkeypatch):
    """The Resume form of a run paused with a gate's thumbnails, in the real Prefect UI (`prefect server start`) in
    headless Chromium: each photo a picture 120 px wide (the UI showed an image inside a link as its raw Markdown
    text, and a plain image at its natural size: the 900 px preview across the form)."""
    from prefect.events.worker import EventsWorker
    from prefect.flow_runs import resume_flow_run
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from surfaces.web import create_app
    from tests.browser import chromium_page, served, until
    from tests.conftest import sample
    from tests.test_progress_screenshot import prefect_server

    raw = sample("nikon_d1.nef")
    with transaction() as session:
        order = work.create_order(session, client="Look", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
        session.flush()
        photos = [Photo(order_id=order.id, source_name=f"DSC_000{n}.nef", original_path=str(raw), sha256=f"{n}" * 64,
                        size_bytes=raw.stat().st_size, status=PhotoStatus.INGESTED) for n in (1, 2)]
        session.add_all(photos)
        session.flush()
        order_id, ids = order.id, {p.source_name: p.id for p in photos}
    (tmp_path / "prefect").mkdir()
    with served(create_app()) as web, prefect_server(tmp_path / "prefect") as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", web)
        text = gates.pictures(order_id, ids, link_to=f"{web}/orders/{order_id}/qc")

        def run() -> None:
            with temporary_settings(updates={PREFECT_API_URL: f"{base}/api"}):
                paused_with(text)
        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        with temporary_settings(updates={PREFECT_API_URL: f"{base}/api"}), get_client(sync_client=True) as client:
            deadline = time.monotonic() + 60
            while not (paused := [r for r in client.read_flow_runs() if r.state.is_paused()]):
                assert time.monotonic() < deadline and runner.is_alive(), "the run never paused"
                time.sleep(0.3)
            [run_id] = [r.id for r in paused]
            with chromium_page() as page:
                page.goto(f"{base}/runs/flow-run/{run_id}")
                page.get_by_role("button", name="Resume").first.click()
                pictures = "[...document.querySelectorAll('[role=dialog] img')]"
                until(page, f"{pictures}.length == 2 && {pictures}.every(i => i.complete && i.naturalWidth > 0)",
                      timeout=30)
                shown = page.evaluate(f"{pictures}.map(i => [i.alt, i.naturalWidth, i.clientWidth])")
                said = page.locator("[role=dialog]").inner_text()
            resume_flow_run(run_id, run_input={"approve_all": True})
        runner.join(timeout=60)
        APILogWorker.drain_all(timeout=10)      # the run's last logs and events sent before its server stops: sent
        EventsWorker.drain_all(timeout=10)      # after, they are retried for a minute and more at the tests' exit
    assert shown == [["DSC_0001.nef", 120, 120], ["DSC_0002.nef", 120, 120]]   # the D1's landscape frame, small
    assert "DSC_0001.nef" in said and "![" not in said                          # a caption, no raw Markdown
