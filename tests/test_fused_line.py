"""Automatic stages in a row run fused (one pass per photo) and batches flow on, on a real Prefect server, real
SQLite and real files: the delivery is the very one stage-by-stage files gave, the record stays per stage, a
master is written only where people take over and at the end, a QC send-back to a stage in the middle of the
fused run re-runs it, and the first graded photos reach a retoucher while the rest are still being graded."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from uuid import UUID

import imagecodecs
import numpy as np
import pytest
import tifffile
from prefect.client.orchestration import get_client
from sqlmodel import select

from config.line import DEFAULT_LINE_FILE, Operation, get_line
from config.settings import get_settings
from presets.model import Preset
from qc.review import QC, PhotoRejection, QcDecision, ReviewReason
from qc.selection import Favourite, SelectionDecision
from record import people, rounds, stats, work
from record.db import transaction
from record.models import CLIENT_SELECTION, QC_GATE, EventKind, Photo, PhotoStatus, WorkItem, WorkStatus
from surfaces.actions.gates import decide
from surfaces.actions.orders import create_order
from surfaces.actions.queue import hand_back as submit_work, pull_to_folder
from qc.checks import check_exposure
from tasks.operations import OPERATIONS, OpContext, camera_blown_share, reference_path
from tasks.pixels import imageio
from tasks.synthetic import DngMeta, render_scene, write_dng
from tests.flowkit import MANUAL_SKIN_LINE, Delivery, cli, retouch_everything, sha256

STAGES = ("cull_grade", "liquify_skin", "fine_retouch", "design_layout")


def _card(folder: Path, n: int, size: tuple[int, int] = (480, 320)) -> Path:
    folder.mkdir()
    for i in range(n):
        write_dng(folder / f"DSC_{i + 1:04d}.dng", render_scene(("portrait", "landscape", "interior")[i % 3], *size,
                                                                seed=i + 11), DngMeta())
    return folder


@pytest.fixture
def line_file(tmp_path, monkeypatch, home, prefect_api):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("POSTLINE_KEEP_REMAKEABLE_FILES", "true")   # the tests look at the masters after delivery

    def use(text: str) -> None:
        path = tmp_path / "line.toml"
        path.write_text(text)
        monkeypatch.setenv("POSTLINE_LINE_FILE", str(path))
        get_line.cache_clear()
        get_settings.cache_clear()

    yield use
    get_line.cache_clear()


def _start(order_id: int) -> tuple[threading.Thread, dict]:
    from flows.order import order_flow

    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("zip", order_flow(order_id)), daemon=True)
    runner.start()
    return runner, result


def _start_and_join(order_id: int) -> str:
    runner, result = _start(order_id)
    runner.join(timeout=300)
    return result["zip"]


def _waiting_on(order_id: int, stage: str, runner: threading.Thread, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert runner.is_alive(), "the order's flow run ended instead of waiting"
            with transaction() as session:
                order = work.get_order(session, order_id)
            if order.waiting_on == stage and order.flow_run_id:
                state = client.read_flow_run(UUID(order.flow_run_id)).state
                if state and state.is_paused():
                    return
            time.sleep(0.2)
    raise AssertionError(f"order {order_id} never waited on {stage}")


def _stage_by_stage(order_id: int, photo_id: int, original: Path, folder: Path) -> Path:
    """The photo through the default line the way postline ran it before fusing: each stage's operation reading
    the previous stage's working TIFF and writing its own."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        line = work.order_line(session, order_id)
    preset = Preset.model_validate_json(order.preset_json)
    source = original
    for spec in line.stages:
        output = folder / f"{photo_id}-{spec.key}.tif"
        OPERATIONS[spec.operation](source, output, OpContext(preset=preset, round=1, params=spec.params))
        source = output
    return source


def _files(order_id: int, stage: str) -> Counter:
    kinds = Counter()
    for path in (get_settings().work_dir / f"order-{order_id}" / stage).glob("*.tif"):
        kinds["preview" if path.name.endswith("-preview.tif") else "master"] += 1
    return kinds


def test_the_fused_line_delivers_what_stage_by_stage_did_and_a_send_back_mid_run_reruns(line_file, tmp_path):
    line_file(DEFAULT_LINE_FILE.read_text().replace("human_review = false", "human_review = true"))
    order_id = create_order(client="Fused", shoot="portrait", card=_card(tmp_path / "card", 3), preset_name=None,
                            due=None).id
    runner, result = _start(order_id)
    _waiting_on(order_id, QC_GATE, runner)
    with transaction() as session:       # the review page's default: grading, the one stage a rework changes
        assert {rounds.redo_stage(session, item) for item in QC.waiting(session, order_id).values()} == {"cull_grade"}
    decision = QcDecision(approve_all=False, lead="maria", rejections=[PhotoRejection(
        photo="DSC_0002.dng", reason=ReviewReason.OTHER, send_back_to="fine_retouch", note="once more")])
    said = decide(order_id, decision)
    assert "sent back to Fine retouch & colour" in said
    assert "Note: DSC_0002.dng will come back as it went: people work no stage from there on" in said
    _waiting_on(order_id, QC_GATE, runner)                       # round 2 of DSC_0002 came back through the run
    decide(order_id, QcDecision(approve_all=True, lead="maria"))
    runner.join(timeout=180)
    delivery = Delivery(Path(result["zip"]))

    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        events = work.events(session, order_id)
        finals = {name: work.final_output(session, p.id, "design_layout") for name, p in photos.items()}
        resent = next(i for i in work.items_in(session, order_id, "fine_retouch", WorkStatus.SUBMITTED) if i.round == 2)
        rows = {row.stage: row for row in stats.stage_table(session, order_id=order_id)}
    assert {p.status for p in photos.values()} == {PhotoStatus.DELIVERED}

    # the delivery is bit for bit what stage-by-stage working files gave, the send-back's round 2 included
    for name, photo in photos.items():
        expected = imageio.read_working_tiff(_stage_by_stage(order_id, photo.id, Path(photo.original_path), tmp_path))
        assert np.array_equal(imageio.read_working_tiff(finals[name].output_path), expected), name
        full = delivery.entry(name, "full")          # the package's renditions were made from that very master
        assert full["master_sha256"] == finals[name].output_sha256 == sha256(Path(finals[name].output_path)), name
        assert delivery.image(full).size == (expected.shape[1], expected.shape[0]), name
    assert delivery.mismatches() == []
    assert finals["DSC_0002.dng"].round == 2

    # the record stays per stage: every stage's events and touch seconds, the send-back counted where it went
    moves = defaultdict(list)
    for event in events:
        if event.work_item_id is not None and event.stage in STAGES:
            moves[(event.photo_id, event.stage, event.round)].append(event)
    for photo in photos.values():
        for stage in STAGES:
            kinds = [e.kind for e in moves[(photo.id, stage, 1)]]
            assert kinds == [EventKind.ENQUEUED, EventKind.CLAIMED, EventKind.SUBMITTED], (photo.source_name, stage)
            assert moves[(photo.id, stage, 1)][-1].seconds > 0
    round2 = Counter(e.stage for e in events if e.kind is EventKind.SUBMITTED and e.round == 2)
    assert round2 == {"fine_retouch": 1, "design_layout": 1}      # grading and skin were computed again, not redone
    assert resent.input_path == photos["DSC_0002.dng"].original_path   # the fused run's start: the original
    for stage in STAGES:
        assert rows[stage].photos_in == 3 and rows[stage].mean_seconds > 0, stage
    assert (rows["fine_retouch"].finished, rows["fine_retouch"].finished_passes, rows["fine_retouch"].sent_back) == (3, 4, 1)

    # one master per photo and round, where the line ends; previews elsewhere; compressed, postline-only codec
    assert [_files(order_id, stage) for stage in STAGES] == [
        {"preview": 3}, {"preview": 3}, {"preview": 4}, {"master": 4}]
    with tifffile.TiffFile(finals["DSC_0001.dng"].output_path) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ZSTD and page.predictor == tifffile.PREDICTOR.HORIZONTAL
        assert page.bitspersample == 16


def test_with_the_clients_selection_grading_runs_alone_and_only_favourites_run_on_fused(line_file, tmp_path):
    line_file(DEFAULT_LINE_FILE.read_text())                                        # every stage automatic
    order_id = create_order(client="Chosen", shoot="portrait", card=_card(tmp_path / "card", 3), preset_name=None,
                            due=None, client_selection=True).id
    runner, result = _start(order_id)
    _waiting_on(order_id, CLIENT_SELECTION, runner)

    # graded, each photo waits for the client's pick with a full-size graded master: nothing of the run after it
    with transaction() as session:
        graded = {p.source_name: work.final_output(session, p.id, "cull_grade") for p in work.photos(session, order_id)}
        assert {i.stage for i in session.exec(select(WorkItem).where(WorkItem.order_id == order_id))} == {"cull_grade"}
    assert [_files(order_id, stage) for stage in STAGES] == [{"master": 3}, {}, {}, {}]
    assert {imageio.read_working_tiff(i.output_path).shape[:2] for i in graded.values()} == {(320, 480)}
    decide(order_id, SelectionDecision(approve_all=False, favourites=[Favourite(photo="DSC_0001.dng")]))
    runner.join(timeout=180)
    delivery = Delivery(Path(result["zip"]))

    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        finished = {n: work.finished_output(session, p.id, list(STAGES)) for n, p in photos.items()}
        [skin] = work.items_in(session, order_id, "liquify_skin", WorkStatus.SUBMITTED)
        submitted = Counter(e.stage for e in work.events(session, order_id) if e.kind is EventKind.SUBMITTED)
    assert {n: f.stage for n, f in finished.items()} == {"DSC_0001.dng": "design_layout", "DSC_0002.dng": "cull_grade",
                                                         "DSC_0003.dng": "cull_grade"}
    assert delivery.mismatches() == [] and delivery.delivered_sources() == set(photos)
    for name, final in finished.items():              # the graded-only delivered from their full graded master
        full = delivery.entry(name, "full")
        assert full["master_sha256"] == final.output_sha256 and delivery.image(full).size == (480, 320), name
    # the favourite's retouch run started from its graded master (grading not computed again nor recorded twice),
    # fused: previews in the middle, one master where the line ends
    assert skin.input_path == graded["DSC_0001.dng"].output_path
    assert submitted == {"cull_grade": 3, "liquify_skin": 1, "fine_retouch": 1, "design_layout": 1}
    assert [_files(order_id, stage) for stage in STAGES] == [
        {"master": 3}, {"preview": 1}, {"preview": 1}, {"master": 1}]

    # after delivery the studio sends a photo delivered graded only back to be retouched (people work no stage of
    # this line: the client's gallery takes no change, tests/test_gallery.py): it is retouched from its graded
    # master (not its RAW, which the pass cannot read as a working file: it failed and left the delivery)
    code, out = cli("order", "revise", str(order_id), "--photo", "DSC_0002.dng:liquify_skin:a little brighter")
    assert code == 0 and "Note: DSC_0002.dng goes back to liquify_skin, and people work no stage from there on: " \
        "its note reaches nobody" in out, out
    revised = Delivery(Path(_start_and_join(order_id)))
    assert revised.mismatches() == [] and revised.delivered_sources() == set(photos)
    with transaction() as session:
        again = work.finished_output(session, photos["DSC_0002.dng"].id, list(STAGES))
        [redo] = [i for i in work.items_in(session, order_id, "liquify_skin", WorkStatus.SUBMITTED) if i.round == 2]
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.DELIVERED}
    assert (again.stage, again.round) == ("design_layout", 2)
    assert redo.input_path == graded["DSC_0002.dng"].output_path
    assert revised.entry("DSC_0002.dng", "full")["master_sha256"] == again.output_sha256


def test_a_change_asked_to_a_graded_only_photo_is_made_though_its_graded_file_went_at_delivery(line_file, tmp_path,
                                                                                               monkeypatch):
    """By default the graded file of a photo the client did not choose leaves the work folder once it is delivered
    (it can be made again from the original). When the studio then sent it back to be retouched, the retouch stage
    started from that file, found it gone, and failed the photo for good: `order retry` failed it the same way and
    `order revise` refused a failed photo. The run makes the file again first, and the change is made."""
    line_file(DEFAULT_LINE_FILE.read_text())                                        # every stage automatic
    monkeypatch.setenv("POSTLINE_KEEP_REMAKEABLE_FILES", "false")                  # as a studio runs it
    get_settings.cache_clear()
    order_id = create_order(client="Chosen", shoot="portrait", card=_card(tmp_path / "card", 2), preset_name=None,
                            due=None, client_selection=True).id
    runner, result = _start(order_id)
    _waiting_on(order_id, CLIENT_SELECTION, runner)
    decide(order_id, SelectionDecision(approve_all=False, favourites=[Favourite(photo="DSC_0001.dng")]))
    runner.join(timeout=180)
    with transaction() as session:
        graded = work.final_output(session, work.named(work.photos(session, order_id), "DSC_0002.dng")[0].id,
                                   "cull_grade")
    assert not Path(graded.output_path).exists()                  # removed at delivery: it can be made again

    # named as the client's download names it (Chosen-0002.jpg), which the studio is told
    in_download = PurePosixPath(Delivery(Path(result["zip"])).entry("DSC_0002.dng", "full")["path"]).name
    assert in_download != "DSC_0002.dng"
    assert cli("order", "revise", str(order_id), "--photo", f"{in_download}:liquify_skin", "--as", "lead")[0] == 0
    revised = Delivery(Path(_start_and_join(order_id)))
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        again = work.finished_output(session, photos["DSC_0002.dng"].id, list(STAGES))
    assert {n: p.status for n, p in photos.items()} == {n: PhotoStatus.DELIVERED for n in photos}
    assert (again.stage, again.round) == ("design_layout", 2)
    assert revised.mismatches() == [] and revised.entry("DSC_0002.dng", "full")["master_sha256"] == again.output_sha256
    assert revised.manifest.get("delivered_as_before", []) == []


def test_graded_photos_reach_a_retoucher_while_the_rest_are_still_grading(line_file, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "2")
    monkeypatch.setenv("POSTLINE_WORKERS", "1")
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="s3cret-pass")
    card = _card(tmp_path / "card", 2, (600, 400))     # the first batch small, the two after it 25 times the pixels:
    for i in range(2, 6):                               # the rest of the order takes seconds to grade, not a blink
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene("portrait", 3000, 2000, seed=i + 11), DngMeta())
    order_id = create_order(client="Flowing", shoot="portrait", card=card, preset_name=None, due=None).id
    runner, result = _start(order_id)

    def open_at(stage: str) -> int:
        with transaction() as session:
            return sum(len(work.items_in(session, order_id, stage, status))
                       for status in (WorkStatus.QUEUED, WorkStatus.CLAIMED))

    pulled, deadline = None, time.monotonic() + 180
    while pulled is None:
        assert runner.is_alive() and time.monotonic() < deadline, "no photo reached the retoucher's queue"
        with transaction() as session:
            waiting = work.items_in(session, order_id, "liquify_skin")
            grading = work.items_in(session, order_id, "cull_grade")
        if waiting and len(grading) >= 2:          # a whole batch of the order is still to be graded
            pulled = pull_to_folder(person="rita", folder=tmp_path / "rita")
        time.sleep(0.02)
    still_grading = open_at("cull_grade")
    assert still_grading >= 1, "the retoucher's photo should be pulled while the order was still being graded"
    item, path = pulled
    proof = get_settings().work_dir / f"order-{order_id}" / "proofs" / f"{item.photo_id}-r1.jpg"
    assert proof.is_file()                                     # the client's proof is there already too
    with tifffile.TiffFile(path) as tif:                       # what Photoshop opens: ZIP (Deflate) with prediction
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.predictor == tifffile.PREDICTOR.HORIZONTAL and page.bitspersample == 16
    decoded = imagecodecs.tiff_decode(path.read_bytes())       # and libtiff itself reads it
    assert np.array_equal(decoded, tifffile.imread(path))

    def hand_back(item_id: int, file: Path) -> None:
        done = file.with_name(file.stem + "-done.tif")
        imageio.write_working_tiff(done, imageio.read_working_tiff(file) * 0.98)
        submit_work(item_id=item_id, person="rita", file=done)

    hand_back(item.id, path)
    _waiting_on(order_id, "liquify_skin", runner)
    while (pulled := pull_to_folder(person="rita", folder=tmp_path / "rita")) is not None:
        hand_back(pulled[0].id, pulled[1])
    runner.join(timeout=180)
    assert Delivery(Path(result["zip"])).mismatches() == []
    with transaction() as session:
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.DELIVERED}
        events = work.events(session, order_id)
    # the record says the same: the retoucher claimed a photo before the order's last photo was graded
    claimed = min(e.at for e in events if e.stage == "liquify_skin" and e.kind is EventKind.CLAIMED)
    graded = max(e.at for e in events if e.stage == "cull_grade" and e.kind is EventKind.SUBMITTED)
    assert claimed < graded
    # a master where the retoucher took over and one at the end; the automatic run after people wrote previews
    assert [_files(order_id, stage) for stage in STAGES] == [{"master": 6}, {}, {"preview": 6}, {"master": 6}]


def test_batches_keep_every_worker_busy_and_grow_past_the_most_task_runs_a_stage_may_have(home, monkeypatch):
    from tasks.planning import batches

    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "24")
    monkeypatch.setenv("POSTLINE_MAX_BATCHES", "32")
    monkeypatch.setenv("POSTLINE_WORKERS", "2")
    get_settings.cache_clear()
    assert [len(batch) for batch in batches(list(range(100)))] == [17, 17, 17, 17, 16, 16]   # whole rounds
    assert [len(batch) for batch in batches(list(range(5)))] == [3, 2]          # both workers get photos
    assert [len(batch) for batch in batches(list(range(48)))] == [24, 24]
    assert batches([]) == []
    thousand = batches(list(range(1000)))
    assert len(thousand) == 32 and sum(map(len, thousand)) == 1000 and max(map(len, thousand)) == 32
    assert [x for batch in thousand for x in batch] == list(range(1000))


ASSISTED_LINE = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
mode = "assisted"
operation = "skin"
[stages.params]
strength = 0.4

[[stages]]
key = "design_layout"
title = "Design & layout"
operation = "finish"
"""


def test_an_assisted_stage_gets_its_photo_prepared_in_the_pass_before_it(line_file, tmp_path):
    line_file(ASSISTED_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="s3cret-pass")
    order_id = create_order(client="Assisted", shoot="portrait", card=_card(tmp_path / "card", 2), preset_name=None,
                            due=None).id
    runner, result = _start(order_id)
    _waiting_on(order_id, "liquify_skin", runner)
    with transaction() as session:
        line = work.order_line(session, order_id)
        originals = {p.id: Path(p.original_path) for p in work.photos(session, order_id)}
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
    assert [_files(order_id, stage) for stage in ("cull_grade", "liquify_skin")] == [{"preview": 2}, {"master": 2}]
    while (pulled := pull_to_folder(person="rita", folder=tmp_path / "rita")) is not None:
        item, path = pulled
        graded, prepared = tmp_path / f"{item.photo_id}-graded.tif", tmp_path / f"{item.photo_id}-prepared.tif"
        OPERATIONS[Operation.GRADE](originals[item.photo_id], graded, OpContext(preset=preset, round=1))
        OPERATIONS[Operation.SKIN](graded, prepared, OpContext(preset=preset, round=1,
                                                               params=line.stage("liquify_skin").params))
        assert np.array_equal(imageio.read_working_tiff(path), imageio.read_working_tiff(prepared))  # once, not twice
        with tifffile.TiffFile(path) as tif:
            assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        done = path.with_name(path.stem + "-done.tif")
        imageio.write_working_tiff(done, imageio.read_working_tiff(path) * 0.98)
        submit_work(item_id=item.id, person="rita", file=done)
    runner.join(timeout=180)
    assert Delivery(Path(result["zip"])).delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng"}


MANUAL_THEN_ASSISTED_LINE = MANUAL_SKIN_LINE.replace('operation = "detail"', 'mode = "assisted"\noperation = "detail"')


def test_a_photo_pulled_at_an_assisted_stage_before_the_run_prepared_it_is_prepared_for_the_retoucher(line_file,
                                                                                                      tmp_path):
    """A photo handed back at a manual stage is queued unprepared at the assisted stage after it, and the order's run
    prepares the stage's photos only once the manual stage is done. A retoucher who pulled it meanwhile got it
    without the stage's operation (the local contrast they were to finish was never made), and the run then changed
    the item they held to a prepared file they never saw. The pull prepares it; the run leaves a held item alone."""
    from record.moves import enqueue
    from tasks.handoff import prepare_batch

    line_file(MANUAL_THEN_ASSISTED_LINE)
    order_id = create_order(client="Assisted", shoot="portrait", card=_card(tmp_path / "card", 1), preset_name=None,
                            due=None).id
    handed_back = imageio.write_working_tiff(tmp_path / "rita-skin.tif",
                                             render_scene("portrait", 480, 320, seed=5).astype(np.float32))
    with transaction() as session:
        people.add_person(session, name="mia", role="retoucher", skills="fine_retouch", password=None)
        photo = Photo(order_id=order_id, source_name="DSC_0001.dng", sha256="1" * 64, size_bytes=1,
                      status=PhotoStatus.INGESTED, original_path="/card/DSC_0001.dng")
        session.add(photo)
        session.flush()
        item_id = enqueue(session, order_id=order_id, photo_id=photo.id, stage="fine_retouch", round=1,
                          input_path=str(handed_back), actor="rita").id
        line = work.order_line(session, order_id)
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
    expected = tmp_path / "expected.tif"
    OPERATIONS[Operation.DETAIL](handed_back, expected, OpContext(preset=preset, round=1,
                                                                  params=line.stage("fine_retouch").params))

    item, pulled = pull_to_folder(person="mia", folder=tmp_path / "mia")
    assert item.id == item_id and item.input_path.endswith("-r1-prepared.tif")
    assert np.array_equal(imageio.read_working_tiff(pulled), imageio.read_working_tiff(expected))
    assert not np.array_equal(imageio.read_working_tiff(pulled), imageio.read_working_tiff(handed_back))
    assert prepare_batch.fn(order_id, "fine_retouch", [item_id]) == 0       # the run, later: nothing to prepare
    with transaction() as session:
        assert session.get(WorkItem, item_id).input_path == item.input_path


@pytest.mark.parametrize("scene, gain, preset", [("highkey", 0.9, None), ("portrait", 0.05, "cyberpunk")],
                         ids=["blown by the look", "almost black"])
def test_a_frame_qc_would_send_back_for_its_exposure_is_rescued_before_a_retoucher_works_it(line_file, tmp_path,
                                                                                           scene, gain, preset):
    """The wedding look blew a bright background the camera had held (over half the frame, QC's limit 10%), or a
    dark look left a dark frame almost black: the retoucher worked the photo, QC sent it back to grading for its
    exposure, and the retoucher worked it again, their first round thrown away. When people work a stage after
    grading, grading checks its first pass as QC's exposure check would and grades a frame it would send back as
    the rework would, at once; a frame it passes is graded as before."""
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    card = _card(tmp_path / "card", 1)
    write_dng(card / "DSC_0002.dng", render_scene(scene, 480, 320) * gain, DngMeta())
    order_id = create_order(client="High Key", shoot="wedding", card=card, preset_name=preset, due=None).id
    runner, result = _start(order_id)
    worked = []
    while runner.is_alive():
        try:
            _waiting_on(order_id, "liquify_skin", runner)
        except AssertionError:
            break                                        # delivered: the run ended instead of waiting
        while (pulled := pull_to_folder(person="rita", folder=tmp_path / "rita")) is not None:
            item, path = pulled                          # a local edit: the rest of the frame as it came
            image = imageio.read_working_tiff(path)
            image[150:170, 220:260] *= 0.95
            imageio.write_working_tiff(done := path.with_name(path.stem + "-done.tif"), image)
            submit_work(item_id=item.id, person="rita", file=done)
            worked.append(f"{item.photo_id}:r{item.round}")
    runner.join(timeout=120)
    assert Delivery(Path(result["zip"])).mismatches() == []
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        events = work.events(session, order_id)
        graded = {name: work.finished_output(session, photo.id, ["cull_grade"]) for name, photo in photos.items()}
    assert sorted(worked) == sorted(f"{p.id}:r1" for p in photos.values())       # each photo worked once
    assert not [e for e in events if e.kind is EventKind.REJECTED], "QC sent a photo back"
    rescued = imageio.read_working_tiff(Path(graded["DSC_0002.dng"].output_path))
    assert check_exposure(rescued, get_line().qc_gate) == []
    if scene == "highkey":
        assert (rescued.min(axis=2) >= 0.99).mean() < 0.05                   # what the look blew came back
        assert rescued[:20, :20].mean() > 0.9                                 # near white, not a grey
    with transaction() as session:
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
    OPERATIONS[Operation.GRADE](card / "DSC_0002.dng", tmp_path / "look.tif", OpContext(preset=preset, round=1))
    assert check_exposure(imageio.read_working_tiff(tmp_path / "look.tif"), get_line().qc_gate,
                          camera_blown=camera_blown_share(reference_path(order_id, graded["DSC_0002.dng"].photo_id, 1)))
    ordinary = imageio.read_working_tiff(Path(graded["DSC_0001.dng"].output_path))   # QC passes it: as before
    OPERATIONS[Operation.GRADE](card / "DSC_0001.dng", tmp_path / "plain.tif", OpContext(preset=preset, round=1))
    assert np.abs(ordinary - imageio.read_working_tiff(tmp_path / "plain.tif")).max() < 1e-4


def test_a_graded_file_made_again_is_graded_with_the_exposure_its_pass_recorded(line_file, tmp_path):
    """Grading records the exposure it graded each photo with (pulled at once for the frame the look blows, on a
    line people work). A graded file made again (gone after the revision window, for a late change: tasks/stages
    _to_make_again) is graded with it, though the order moved since to a line whose QC gate lets a high-key
    white background through, which would not pull that frame today: the retoucher gets again the very file
    they worked."""
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    card = _card(tmp_path / "card", 1)
    write_dng(card / "DSC_0002.dng", render_scene("highkey", 480, 320) * 0.9, DngMeta())
    order_id = create_order(client="High Key", shoot="wedding", card=card, preset_name=None, due=None).id
    runner, _ = _start(order_id)
    _waiting_on(order_id, "liquify_skin", runner)
    with transaction() as session:
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        graded = {name: work.final_output(session, p.id, "cull_grade") for name, p in photos.items()}
    ev = preset.tone.exposure_ev
    assert (graded["DSC_0001.dng"].exposure_ev, graded["DSC_0001.dng"].kept_white) == (ev, False)   # as the preset
    assert graded["DSC_0002.dng"].exposure_ev < ev and graded["DSC_0002.dng"].kept_white              # pulled

    retouch_everything("rita", tmp_path / "rita")
    runner.join(timeout=180)
    assert not runner.is_alive()                          # delivered
    line_file(MANUAL_SKIN_LINE + "\n[qc_gate]\nmax_clipped_share = 0.9\n")
    code, out = cli("order", "use-line", str(order_id))
    assert code == 0 and "max_clipped_share" in out, out
    from tasks.stages import _make_again

    for name, item in graded.items():
        path = Path(item.output_path)
        path.unlink()                                     # removed after the revision window
        assert _make_again(item) == path
        assert sha256(path) == item.output_sha256, name   # the same pixels as the retoucher had

    # Grading recorded before postline recorded its exposure (the migration leaves it None) had no first-pass
    # rescue: made again, it is graded with the preset's exposure, as it was then (though the order is back on
    # the line whose first pass today would rescue this frame).
    line_file(MANUAL_SKIN_LINE)
    assert cli("order", "use-line", str(order_id))[0] == 0
    item = graded["DSC_0002.dng"]
    with transaction() as session:
        row = session.get(WorkItem, item.id)
        row.exposure_ev, row.kept_white = None, False
        session.add(row)
    Path(item.output_path).unlink()
    with transaction() as session:
        before = session.get(WorkItem, item.id)
    assert before.exposure_ev is None
    _make_again(before)
    OPERATIONS[Operation.GRADE](card / "DSC_0002.dng", tmp_path / "as-then.tif", OpContext(preset=preset, round=1))
    assert np.abs(imageio.read_working_tiff(Path(item.output_path))
                  - imageio.read_working_tiff(tmp_path / "as-then.tif")).max() < 1e-4
