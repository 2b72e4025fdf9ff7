"""`postline queue ...`: a retoucher pulls a photo into their folder, edits it, hands it back; wrong hands are refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from record import work
from record.db import transaction
from record.models import EventKind, Photo, PhotoStatus, ShootType, StageEvent, WorkItem, WorkStatus
from record import moves
from record.moves import enqueue
from surfaces.actions import queue as queue_actions
from surfaces.cli import queue as queue_cli
from surfaces.cli import main
from tasks.files import sha256_of
from tasks.pixels.imageio import read_working_tiff, write_working_tiff

SKIN = "liquify_skin"


@pytest.fixture
def line(home, tmp_path, monkeypatch, capsys) -> list[int]:
    """Liquify & skin worked by people; Ana and Bob have the skill; two photos of an order wait there."""
    monkeypatch.setattr(queue_actions, "human_stages", lambda: [SKIN])
    for name in ("ana", "bob"):
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{name}'s long password\n"))
        assert main(["people", "add", name, "--role", "retoucher", "--skills", SKIN, "--password-stdin"]) == 0
    y, x = np.mgrid[0:90, 0:120].astype(np.float32)
    ids = []
    with transaction() as session:
        order = work.create_order(session, client="Anna & Ben", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
        for n in range(2):
            working = write_working_tiff(tmp_path / "work" / f"{n}.tif",
                                         np.stack([x / 120, y / 90, np.full_like(x, 0.3 + 0.2 * n)], axis=2))
            ids.append(_waiting_at_skin(session, order.id, f"DSC_{n:04d}.NEF", f"{n:064x}", working))
    capsys.readouterr()
    return ids


def _waiting_at_skin(session, order_id: int, name: str, sha: str, working: Path) -> int:  # noqa: ANN001
    """A photo of the order, queued at the skin stage from ``working``: its work item's id."""
    photo = Photo(order_id=order_id, source_name=name, sha256=sha, size_bytes=1, status=PhotoStatus.INGESTED)
    session.add(photo)
    session.flush()
    return enqueue(session, order_id=order_id, photo_id=photo.id, stage=SKIN, round=1, input_path=str(working),
                   actor="test").id


def pull(capsys, folder: Path, *args: str) -> tuple[int, str]:
    code = main(["queue", "pull", "--as", "ana", "--to", str(folder), *args])
    out = capsys.readouterr().out.strip().splitlines()
    return code, out[-1] if out else ""


def test_pull_edit_submit_through_the_cli(line, tmp_path, capsys):
    folder = tmp_path / "ana"
    code, path = pull(capsys, folder)
    copied = Path(path)
    assert code == 0 and copied.parent == folder and copied.name == f"{line[0]}-DSC_0000-{SKIN}-r1.tif"
    with transaction() as session:
        item = session.get(WorkItem, line[0])
        assert (item.status, item.claimed_by) == (WorkStatus.CLAIMED, "ana")
        assert sha256_of(copied) == sha256_of(Path(item.input_path))
    assert main(["queue", "mine", "--as", "ana"]) == 0
    assert f"\n{line[0]} " in capsys.readouterr().out

    image = read_working_tiff(copied)                       # the retoucher's edit, saved over the pulled file
    image[20:60, 30:90] = np.clip(image[20:60, 30:90] + 0.1, 0, 1)
    write_working_tiff(copied, image)
    assert main(["queue", "submit", str(line[0]), str(copied), "--as", "bob"]) == 1
    assert "claimed by ana, not bob" in capsys.readouterr().err
    assert main(["queue", "submit", str(line[0]), str(copied), "--as", "ana"]) == 0
    assert "submitted" in capsys.readouterr().out
    with transaction() as session:
        item = session.get(WorkItem, line[0])
        stored = Path(item.output_path)
        assert item.status is WorkStatus.SUBMITTED and item.output_sha256 == sha256_of(copied) == sha256_of(stored)
        assert stored.name.startswith(item.output_sha256[:16]) and "work" in stored.parts
        event = session.exec(select(StageEvent).where(StageEvent.work_item_id == item.id,
                                                      StageEvent.kind == EventKind.SUBMITTED)).one()
        assert event.actor == "ana" and event.seconds is not None and event.seconds >= 0


def test_submit_refuses_an_unchanged_file_and_keeps_the_claim(line, tmp_path, capsys):
    _, path = pull(capsys, tmp_path / "ana")
    assert main(["queue", "submit", str(line[0]), path, "--as", "ana"]) == 1
    assert "byte-identical to the working file" in capsys.readouterr().err
    with transaction() as session:
        assert session.get(WorkItem, line[0]).status is WorkStatus.CLAIMED


def test_one_file_handed_back_for_two_photos_is_refused_the_second_time(line, tmp_path, capsys):
    """A retoucher with two photos pulled handed back one file for both: both were stored as each one's work."""
    _, first = pull(capsys, tmp_path / "ana")
    pull(capsys, tmp_path / "ana")
    image = read_working_tiff(Path(first))
    image[20:60, 30:90] = np.clip(image[20:60, 30:90] + 0.1, 0, 1)
    done = write_working_tiff(tmp_path / "done.tif", image)
    assert main(["queue", "submit", str(line[0]), str(done), "--as", "ana"]) == 0
    capsys.readouterr()
    assert main(["queue", "submit", str(line[1]), str(done), "--as", "ana"]) == 1
    assert ("done.tif is the file handed back for DSC_0000.NEF already: one file cannot be two photos' work"
            in capsys.readouterr().err)
    with transaction() as session:
        assert session.get(WorkItem, line[1]).status is WorkStatus.CLAIMED      # still hers, to hand back


def test_another_photos_working_file_handed_back_is_named_so_not_as_its_hand_back(line, tmp_path, capsys):
    """Handing back the other photo's working file, as pulled, said "is the file handed back for DSC_0000.NEF
    already", when nothing had been handed back for it: it says whose working file it is."""
    with transaction() as session:            # as a run records it: grading made each photo's working file
        for item_id in line:
            item = session.get(WorkItem, item_id)
            session.add(WorkItem(order_id=item.order_id, photo_id=item.photo_id, stage="cull_grade", round=1,
                                 status=WorkStatus.SUBMITTED, claimed_by=work.AUTO_WORKER,
                                 output_path=item.input_path, output_sha256=sha256_of(Path(item.input_path))))
    _, first = pull(capsys, tmp_path / "ana")
    pull(capsys, tmp_path / "ana")
    assert main(["queue", "submit", str(line[1]), first, "--as", "ana"]) == 1
    said = capsys.readouterr().err
    assert f"{Path(first).name} is the working file of DSC_0000.NEF, not edited: hand back this photo's own" in said


def _edited(path: Path, to: Path, lift: float = 0.1) -> Path:
    image = read_working_tiff(path)
    image[20:60, 30:90] = np.clip(image[20:60, 30:90] + lift, 0, 1)
    return write_working_tiff(to, image)


def test_a_photo_qc_sent_back_is_not_finished_by_handing_back_the_same_file(line, tmp_path, capsys):
    """A retoucher handed back their round-1 file again for the round QC sent back: it was taken, the note not
    acted on, and the later stages worked the same file again."""
    from record import rounds
    from record.models import QC_GATE

    _, first = pull(capsys, tmp_path / "ana")
    done = _edited(Path(first), tmp_path / "done.tif")
    assert main(["queue", "submit", str(line[0]), str(done), "--as", "ana"]) == 0
    with transaction() as session:
        handed = session.get(WorkItem, line[0])
        moves.move_item(session, session.get(WorkItem, line[1]), WorkStatus.CANCELLED, actor="test")
        gate = enqueue(session, order_id=handed.order_id, photo_id=handed.photo_id, stage=QC_GATE, round=1,
                       input_path=handed.output_path, actor="test")
        again = rounds.send_back(session, work.claim_queued(session, gate.id), stage=SKIN, actor="maria",
                                 reason="[dust_blemish_missed] DSC_0000.NEF: a speck on the collar").id
    capsys.readouterr()
    _, second = pull(capsys, tmp_path / "ana")
    assert main(["queue", "submit", str(again), str(done), "--as", "ana"]) == 1
    assert ("done.tif is the file handed back in round 1 already, and round 2 asks for a change (sent back by QC: "
            "DSC_0000.NEF: a speck on the collar (dust blemish missed)): hand back your work on it"
            in capsys.readouterr().err)
    with transaction() as session:
        assert session.get(WorkItem, again).status is WorkStatus.CLAIMED
    fixed = _edited(done, tmp_path / "fixed.tif", lift=-0.05)               # the speck removed: taken
    assert main(["queue", "submit", str(again), str(fixed), "--as", "ana"]) == 0


def test_a_file_handed_back_in_another_order_is_refused_unless_worked_from_the_same_file(line, tmp_path, capsys):
    """The same retoucher on two orders of one couple: the first order's hand-back, submitted for the second's
    photo (the same picture, graded with another preset), replaced that photo's work."""
    _, first = pull(capsys, tmp_path / "ana")
    done = _edited(Path(first), tmp_path / "done.tif")
    assert main(["queue", "submit", str(line[0]), str(done), "--as", "ana"]) == 0
    with transaction() as session:
        moves.move_item(session, session.get(WorkItem, line[1]), WorkStatus.CANCELLED, actor="test")
        ids = []
        for n, working in enumerate((_edited(Path(first), tmp_path / "other-grade.tif", lift=0.02), Path(first))):
            order = work.create_order(session, client=f"Anna & Ben {n}", shoot=ShootType.WEDDING,
                                      preset_name="neutral", preset_version=1, preset_hash="x", preset_json="{}",
                                      due=None, card_folder="/card")
            ids.append(_waiting_at_skin(session, order.id, "DSC_0000.NEF", f"{n + 7:064x}", working))
    capsys.readouterr()
    pull(capsys, tmp_path / "ana")
    assert main(["queue", "submit", str(ids[0]), str(done), "--as", "ana"]) == 1
    assert (f"done.tif is the file handed back for DSC_0000.NEF of order {work_order(line[0])} already, worked from "
            "another working file than this photo's" in capsys.readouterr().err)
    assert main(["queue", "release", str(ids[0]), "--as", "ana"]) == 0
    with transaction() as session:
        moves.move_item(session, session.get(WorkItem, ids[0]), WorkStatus.CANCELLED, actor="test")
    pull(capsys, tmp_path / "ana")                  # worked from a copy of the same working file: the same work
    assert main(["queue", "submit", str(ids[1]), str(done), "--as", "ana"]) == 0


def test_the_last_hand_back_of_a_stage_says_when_more_photos_are_still_coming(line, tmp_path, capsys):
    """The stage's queue empty for now, while another photo was still graded: "the order can move on", it said."""
    with transaction() as session:
        other = session.get(WorkItem, line[1])
        moves.move_item(session, other, WorkStatus.CANCELLED, actor="test")
        grading = enqueue(session, order_id=other.order_id, photo_id=other.photo_id, stage="cull_grade", round=1,
                          input_path=other.input_path, actor="test").id
    _, first = pull(capsys, tmp_path / "ana")
    assert main(["queue", "submit", str(line[0]), str(_edited(Path(first), tmp_path / "done.tif")), "--as", "ana"]) == 0
    said = capsys.readouterr().out
    assert f"That was the last open {SKIN} item of order {work_order(line[0])} for now: more come from Cull & grade " \
           "(1 photo(s))." in said and "can move on" not in said
    assert "No run is working on the order (it stopped, or none was started)" in said
    with transaction() as session:
        moves.move_item(session, session.get(WorkItem, grading), WorkStatus.CANCELLED, actor="test")
        enqueue(session, order_id=other.order_id, photo_id=other.photo_id, stage=SKIN, round=2,
                input_path=other.input_path, actor="test")
    _, second = pull(capsys, tmp_path / "ana")
    item = int(Path(second).name.split("-")[0])
    assert main(["queue", "submit", str(item), str(_edited(Path(second), tmp_path / "two.tif")), "--as", "ana"]) == 0
    said = capsys.readouterr().out                  # nothing more coming; no run here to move the order on
    assert "for now" not in said and "but no run is working on the order" in said


def work_order(item_id: int) -> int:
    with transaction() as session:
        return session.get(WorkItem, item_id).order_id


def test_submit_refuses_an_8_bit_or_darkened_result_with_the_reason_at_once(line, tmp_path, capsys):
    from PIL import Image

    _, path = pull(capsys, tmp_path / "ana")
    image = read_working_tiff(Path(path))
    eight = tmp_path / "eight.tif"
    Image.fromarray((image * 255).round().astype(np.uint8)).save(eight, icc_profile=Image.open(path).info.get("icc_profile"))
    assert main(["queue", "submit", str(line[0]), str(eight), "--as", "ana"]) == 1
    assert "eight.tif is a 8-bit TIFF but the working file is 16-bit" in capsys.readouterr().err
    dark = write_working_tiff(tmp_path / "dark.tif", image * 0.02)
    assert main(["queue", "submit", str(line[0]), str(dark), "--as", "ana"]) == 1
    assert "dark.tif is almost black (mean level" in capsys.readouterr().err
    with transaction() as session:
        assert session.get(WorkItem, line[0]).status is WorkStatus.CLAIMED


@pytest.mark.parametrize("blamed", [SKIN, "cull_grade"])
def test_pull_says_why_automatic_qc_sent_the_photo_back(line, tmp_path, capsys, blamed):
    """The automatic gate's rejection, as qc/gate.py records it (record.rounds.send_back), read by the retoucher
    who gets the photo again: sent back to their stage, or to grading and then on to them."""
    from record import rounds
    from record.models import QC_GATE

    with transaction() as session:
        first = session.get(WorkItem, line[0])
        for item_id in line:
            moves.move_item(session, session.get(WorkItem, item_id), WorkStatus.CANCELLED, actor="test")
        gate = enqueue(session, order_id=first.order_id, photo_id=first.photo_id, stage=QC_GATE, round=1,
                       input_path=first.input_path, actor="test")
        gate = work.claim_queued(session, gate.id)
        again = rounds.send_back(session, gate, stage=blamed, actor=work.AUTO_WORKER,
                                 reason="[all_black] DSC_0000.NEF is almost black (mean level 1.9%); Fine retouch & "
                                        "colour made it so: mean level 41.2% -> 1.9%")
        if blamed != SKIN:                                    # graded again, it comes on to the people's stage
            moves.move_item(session, again, WorkStatus.CANCELLED, actor="test")
            enqueue(session, order_id=first.order_id, photo_id=first.photo_id, stage=SKIN, round=2,
                    input_path=first.input_path, actor=work.AUTO_WORKER)
    capsys.readouterr()
    assert main(["queue", "pull", "--as", "ana", "--to", str(tmp_path / "ana")]) == 0
    out = capsys.readouterr().out
    assert "round 2" in out and "Sent back by QC: DSC_0000.NEF is almost black" in out and "(all black)" in out
    assert "mean level 41.2% -> 1.9%" in out
    assert ("sent back to Cull & grade; redone there, it comes to this stage again" in out) == (blamed != SKIN)


def test_release_and_an_empty_queue(line, tmp_path, capsys):
    for _ in line:
        assert pull(capsys, tmp_path / "ana")[0] == 0
    assert pull(capsys, tmp_path / "ana")[0] == queue_cli.EXIT_EMPTY
    assert main(["queue", "release", str(line[1]), "--as", "bob"]) == 1
    assert main(["queue", "release", str(line[1]), "--as", "ana", "--reason", "needs a lead's look"]) == 0
    capsys.readouterr()
    assert main(["queue", "stages"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("Liquify & skin"))
    assert row.split()[3:7] == ["people", "liquify_skin", "1", "1"]   # skills needed, 1 queued, 1 claimed
    code, path = pull(capsys, tmp_path / "ana", "--stage", SKIN)
    assert code == 0 and Path(path).name.startswith(f"{line[1]}-")


def test_pull_from_a_stage_people_do_not_work_is_refused(line, tmp_path, capsys):
    assert main(["queue", "pull", "--as", "ana", "--stage", "fine_retouch"]) == 1
    assert "not worked by people" in capsys.readouterr().err
    assert main(["queue", "pull", "--as", "zoe"]) == 1
    assert "nobody called 'zoe'" in capsys.readouterr().err
