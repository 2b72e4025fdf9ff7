"""A real order through the whole line on real camera files, under a real Prefect server:
what the studio and the client would check."""

from __future__ import annotations

import shutil
import stat
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from prefect.client.orchestration import get_client

from record import work
from record.db import transaction
from record.models import DELIVERY, INGEST, QC_GATE, EventKind, OrderStatus, PhotoStatus
from tests.conftest import sample
from tests.flowkit import Delivery, run_order, sha256

# real file -> (name on the card, size as viewed)
CAMERAS = {
    "canon_powershot_s40.crw": ("IMG_0119.CRW", (2312, 1720)),
    "nikon_d1.nef": ("DSC 0001 (copy) ünïcödé.NEF", (2012, 1324)),
    "kodak_dc120.kdc": ("-rf; echo 'pwned'.kdc", (1301, 976)),
    "canon_eos_d30.crw": ("sub/folder/CRW_2626.CRW", (2176, 1448)),
}


@pytest.fixture(scope="module")
def delivered_order(prefect_api, tmp_path_factory, request):
    """One order run once for the checks below: four cameras plus the usual card-folder debris."""
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    from config.settings import get_settings

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("POSTLINE_HOME", str(home))
    get_settings.cache_clear()
    card = tmp_path_factory.mktemp("card")
    for real, (name, _) in CAMERAS.items():
        (card / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample(real), card / name)
    (card / "backup").mkdir()
    shutil.copy(sample("canon_powershot_s40.crw"), card / "backup" / "IMG_0119.CRW")   # exact duplicate
    (card / "truncated.crw").write_bytes(sample("canon_powershot_g2.crw").read_bytes()[:400_000])
    (card / "empty.nef").write_bytes(b"")
    damaged = bytearray(sample("nikon_d1.nef").read_bytes())           # bytes a card read got wrong, mid-file:
    middle = slice(len(damaged) // 3, len(damaged) // 3 + len(damaged) // 4)     # LibRaw decodes them as static
    damaged[middle] = np.random.default_rng(7).integers(0, 256, middle.stop - middle.start, np.uint8).tobytes()
    (card / "damaged.nef").write_bytes(bytes(damaged))
    (card / "notes.txt").write_text("call the bride's mother\n")
    (card / "IMG_0119.xmp").write_text("<x:xmpmeta/>")                                      # sidecar: ignored
    order_id, package = run_order(card, client="Anna & Ben")
    yield {"order_id": order_id, "package": package, "card": card, "home": home}
    get_settings.cache_clear()


def test_every_rendition_of_the_recipe_per_accepted_photo_in_a_package_that_verifies(delivered_order):
    from presets.recipe import load_recipe

    delivery = Delivery(delivered_order["package"])
    names = [name for name, _ in CAMERAS.values()]
    renditions = [r.key for r in load_recipe("portrait").renditions]
    assert delivery.delivered_sources() == set(names)
    assert sorted(e["rendition"] for e in delivery.manifest["files"]) == sorted(renditions * len(names))
    assert delivery.mismatches() == []
    package = delivered_order["package"]
    assert package == delivered_order["home"] / "archive" / "Anna_Ben" / str(date.today().year) / \
        f"order-{delivered_order['order_id']}" / "delivery"
    assert {p.name for p in package.iterdir()} == {"manifest.json", "contact-sheet.jpg", "contact-sheet.pdf",
                                                   "client.zip", "social.zip", "print.zip", "proof.zip"}


def test_full_size_keeps_the_camera_size_and_orientation_web_is_smaller(delivered_order):
    delivery = Delivery(delivered_order["package"])
    for name, size in CAMERAS.values():
        full, web = delivery.full(name), delivery.web(name)
        assert full.size == size, name
        assert full.format == "JPEG" and full.info.get("icc_profile"), name
        assert max(web.size) == min(2048, max(size))
        assert web.width / web.height == pytest.approx(size[0] / size[1], rel=0.01)


def test_manifest_carries_the_originals_checksums_and_the_preset(delivered_order):
    delivery = Delivery(delivered_order["package"])
    for real, (name, _) in CAMERAS.items():
        assert delivery.entry(name, "full")["source_sha256"] == sha256(sample(real))
    assert delivery.manifest["preset"]["name"] == "classic-portrait"
    assert delivery.manifest["preset"]["version"] >= 1 and len(delivery.manifest["preset"]["sha256"]) == 64


def test_bad_files_are_set_aside_with_a_reason_that_names_them(delivered_order):
    with transaction() as session:
        by_name = {p.source_name: p for p in work.photos(session, delivered_order["order_id"])}
    assert "IMG_0119.xmp" not in by_name
    truncated, empty, notes = by_name["truncated.crw"], by_name["empty.nef"], by_name["notes.txt"]
    assert truncated.status is PhotoStatus.REJECTED and "truncated.crw" in truncated.reason
    assert "copy it" in truncated.reason.lower() or "re-copy" in truncated.reason.lower()
    assert empty.status is PhotoStatus.REJECTED and "empty" in empty.reason
    assert notes.status is PhotoStatus.REJECTED and "not a photo" in notes.reason
    duplicate = by_name["backup/IMG_0119.CRW"]
    assert duplicate.status is PhotoStatus.DUPLICATE and "IMG_0119.CRW" in duplicate.reason
    damaged = by_name["damaged.nef"]             # it was delivered with a full-width band of static through it
    assert damaged.status is PhotoStatus.FAILED, damaged.reason
    assert damaged.reason.startswith("damaged.nef: rows ") and "hold noise, not a picture" in damaged.reason
    not_delivered = {n["source_name"] for n in Delivery(delivered_order["package"]).manifest["not_delivered"]}
    assert not_delivered == {"truncated.crw", "empty.nef", "notes.txt", "backup/IMG_0119.CRW", "damaged.nef"}


def test_originals_are_archived_read_only_and_unchanged(delivered_order):
    with transaction() as session:
        photos = work.photos(session, delivered_order["order_id"], PhotoStatus.DELIVERED)
    assert len(photos) == len(CAMERAS)
    for photo in photos:
        archived = Path(photo.original_path)
        assert sha256(archived) == photo.sha256 == sha256(delivered_order["card"] / photo.source_name)
        assert not archived.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_every_move_of_every_photo_is_recorded(delivered_order):
    from config.line import get_line

    with transaction() as session:
        order = work.get_order(session, delivered_order["order_id"])
        delivered = {p.id for p in work.photos(session, order.id, PhotoStatus.DELIVERED)}
        kinds = defaultdict(list)
        for ev in work.events(session, order.id):
            kinds[(ev.photo_id, ev.stage)].append(ev.kind)
    assert order.status is OrderStatus.DELIVERED
    for photo_id in delivered:
        assert kinds[(photo_id, INGEST)] == [EventKind.INGESTED]
        for stage in get_line().stages:
            assert kinds[(photo_id, stage.key)] == [EventKind.ENQUEUED, EventKind.CLAIMED, EventKind.SUBMITTED]
        assert kinds[(photo_id, QC_GATE)][:3] == [EventKind.ENQUEUED, EventKind.CLAIMED, EventKind.PASSED]
        assert kinds[(photo_id, DELIVERY)] == [EventKind.DELIVERED]


def test_the_prefect_ui_shows_the_order_and_its_stages(delivered_order):
    from prefect.client.schemas.filters import (
        ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName,
    )

    order_id = delivered_order["order_id"]
    expected = [f"Anna & Ben · order {order_id}"] + [      # the four automatic stages run fused: one sub-run
        f"{stage} · order {order_id}" for stage in ("Ingest", "Cull & grade → Design & layout", "QC gate", "Delivery")]
    key = f"order-{order_id}-delivery"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=expected)))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert set(expected) <= {run.name for run in runs}
    summary = max((a for a in artifacts if f"### Anna & Ben · order {order_id}" in a.data),   # this module's order:
                  key=lambda a: a.created)                                              # the newest of that name
    assert "truncated.crw" in summary.data and "| Cull & grade | 5 | 4 | 0 | 4 | 1 |" in summary.data   # damaged.nef
    assert "damaged.nef: rows " in summary.data                                                  # failed, said why


def test_running_a_delivered_order_again_changes_nothing(delivered_order):
    from flows.order import order_flow

    package = delivered_order["package"]
    before = {p.name: sha256(p) for p in package.iterdir()}
    with transaction() as session:
        events_before = len(work.events(session, delivered_order["order_id"]))
    assert Path(order_flow(delivered_order["order_id"])) == package
    assert {p.name: sha256(p) for p in package.iterdir()} == before
    with transaction() as session:
        assert len(work.events(session, delivered_order["order_id"])) == events_before


def test_no_band_of_a_real_camera_file_or_a_synthetic_frame_is_taken_for_noise(tmp_path):
    """The damaged-data check (tasks.pixels.decode.noise_rows) finds nothing in the real camera files (dark,
    noisy and bright frames among them) nor in every kind of synthetic frame; a copy damaged mid-file, it finds."""
    import rawpy

    from tasks.pixels.decode import noise_rows
    from tasks.synthetic import write_card

    card = write_card(tmp_path / "card", 12, size=(480, 320))
    files = sorted(p for p in sample("nikon_d1.nef").parent.iterdir() if p.suffix.lower() != ".md")
    assert len(files) >= 8
    for path in [*files, *sorted(card.iterdir())]:
        with rawpy.imread(str(path)) as raw:
            assert noise_rows(raw.raw_image_visible, float(raw.white_level)) is None, path.name
    damaged = bytearray(sample("kodak_dc120.kdc").read_bytes())
    damaged[len(damaged) // 3:len(damaged) // 2] = bytes(np.random.default_rng(3).integers(0, 256, len(damaged) // 2 -
                                                                                            len(damaged) // 3, np.uint8))
    (tmp_path / "damaged.kdc").write_bytes(bytes(damaged))
    with rawpy.imread(str(tmp_path / "damaged.kdc")) as raw:
        first, last = noise_rows(raw.raw_image_visible, float(raw.white_level))
        assert 0 < first < last < raw.raw_image_visible.shape[0] - 1
