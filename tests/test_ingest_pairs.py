"""A card shot RAW+JPEG: each shot's RAW is worked and the camera's JPEG of it is set aside as its duplicate,
whether both files are in one folder or the camera wrote them to two cards; a JPEG that only looks like a
shot's (another body's frame with the same number, or a different picture stamped with the same second) is
worked as a photo of its own; two bodies of one model shooting in step each keep their own pair; and when a
shot's RAW cannot be read, its JPEG is worked instead. Real camera files (the two bodies' frames made from one),
the real ingest flow on the tests' Prefect server, `postline status` as the studio reads it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flows.ingest import ingest_flow
from record.models import PhotoStatus
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks.ingest import by_shot
from tests import cullkit as kit
from tests.conftest import sample
from tests.flowkit import photos_by_name


def _copy(name: str, to: Path, *, keep: float = 1.0) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    data = sample(name).read_bytes()
    to.write_bytes(data[:int(len(data) * keep)])
    return to


@pytest.fixture(scope="module")
def paired_card(tmp_path_factory) -> Path:
    card = tmp_path_factory.mktemp("paired") / "card"
    folder = card / "DCIM" / "100CANON"
    kit.camera_jpeg(folder / "IMG_0001.JPG", _copy("canon_powershot_g2.crw", folder / "IMG_0001.CRW"))
    kit.camera_jpeg(folder / "DSC_0002.JPG", _copy("nikon_d1.nef", folder / "DSC_0002.NEF"))  # sorts before its RAW
    kit.camera_jpeg(card / "JPG" / "K_0003.JPG", _copy("kodak_dc120.kdc", card / "RAW" / "K_0003.KDC"))  # two cards
    _copy("canon_powershot_s40.crw", folder / "IMG_0004.CRW")       # a second S40: its frame 4, another moment
    kit.camera_jpeg(folder / "IMG_0004.JPG", sample("canon_powershot_s40_b.crw"))
    _copy("canon_powershot_s40_b.crw", folder / "IMG_0005.CRW")     # the same camera and second, another picture
    kit.camera_jpeg(folder / "IMG_0005.JPG", sample("kodak_dc50.kdc"), like=sample("canon_powershot_s40_b.crw"))
    _copy("canon_eos_d30.crw", folder / "IMG_0006.CRW", keep=0.5)   # the RAW's copy broke; its JPEG did not
    kit.camera_jpeg(folder / "IMG_0006.JPG", sample("canon_eos_d30.crw"))
    scene, taken = kit.linear("nikon_d1.nef"), datetime(2026, 6, 20, 15, 0, 0)   # two bodies of one model, in step:
    for body, picture in (("A", scene), ("B", kit.shifted(scene, 0.02))):        # the same moment, the same number
        (card / body).mkdir()
        kit.camera_jpeg(card / body / "DSC_0008.JPG", kit.write_frame(card / body / "DSC_0008.dng", picture, taken))
    return card


@pytest.fixture(scope="module")
def paired_order(paired_card, prefect_api, tmp_path_factory, request) -> int:
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    from config.settings import get_settings

    monkeypatch.setenv("POSTLINE_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("POSTLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    order_id = create_order(client="Ines & Paul", shoot="wedding", card=paired_card, preset_name=None, due=None).id
    ingest_flow(order_id, str(paired_card))
    yield order_id
    get_settings.cache_clear()


def test_each_shots_raw_is_worked_and_the_cameras_jpeg_of_it_set_aside(paired_order):
    photos = photos_by_name(paired_order)
    ids = {p.id: name for name, p in photos.items()}
    set_aside = {name: ids[p.duplicate_of] for name, p in photos.items() if p.status is PhotoStatus.DUPLICATE}
    assert set_aside == {"DCIM/100CANON/IMG_0001.JPG": "DCIM/100CANON/IMG_0001.CRW",
                         "DCIM/100CANON/DSC_0002.JPG": "DCIM/100CANON/DSC_0002.NEF",
                         "JPG/K_0003.JPG": "RAW/K_0003.KDC",
                         "A/DSC_0008.JPG": "A/DSC_0008.dng", "B/DSC_0008.JPG": "B/DSC_0008.dng"}
    reason = photos["JPG/K_0003.JPG"].reason
    assert "the camera's JPEG of RAW/K_0003.KDC" in reason and "the RAW is worked" in reason


def test_a_jpeg_only_like_a_shots_is_worked_as_a_photo_of_its_own(paired_order):
    photos = photos_by_name(paired_order)
    in_line = {name for name, p in photos.items() if p.status is PhotoStatus.INGESTED}
    assert in_line == {"DCIM/100CANON/IMG_0001.CRW", "DCIM/100CANON/DSC_0002.NEF", "RAW/K_0003.KDC",
                       "A/DSC_0008.dng", "B/DSC_0008.dng",
                       "DCIM/100CANON/IMG_0004.CRW", "DCIM/100CANON/IMG_0004.JPG",   # another moment
                       "DCIM/100CANON/IMG_0005.CRW", "DCIM/100CANON/IMG_0005.JPG",   # another picture
                       "DCIM/100CANON/IMG_0006.JPG"}                                 # its RAW is broken
    assert photos["DCIM/100CANON/IMG_0006.CRW"].status is PhotoStatus.REJECTED
    same_second = photos["DCIM/100CANON/IMG_0005.JPG"], photos["DCIM/100CANON/IMG_0005.CRW"]
    assert same_second[0].capture_time == same_second[1].capture_time is not None
    assert same_second[0].camera_model == same_second[1].camera_model


def test_the_status_says_how_many_jpegs_were_set_aside_and_why_in_one_line(paired_order, capsys):
    assert main(["status", str(paired_order)]) == 0
    out = capsys.readouterr().out
    not_delivered = out.split("Not delivered:")[1].strip().splitlines()
    assert [line for line in not_delivered if "camera JPEG" in line] == [
        "  [duplicate] 5 camera JPEG(s) of RAW+JPEG shots (A/DSC_0008.JPG, B/DSC_0008.JPG, "
        "...): each shot's RAW is worked, the JPEG kept in the archive"]
    assert "IMG_0006.CRW" in out and "IMG_0006.JPG:" not in out
    ingest = next(line.split() for line in out.splitlines() if line.startswith("Ingest "))
    assert ingest[1:6] == ["16", "10", "10", "0", "1"]       # in, finished, passes, sent back, failed: the broken RAW


def test_a_shots_files_go_to_one_batch_raw_first_wherever_they_sort():
    names = ["A/IMG_0009.JPG", "DSC_0001.JPG", "DSC_0001.NEF", "DSC_0002.jpg", "Z/img_0009.cr2", "notes.txt"]
    assert by_shot(names) == [["Z/img_0009.cr2", "A/IMG_0009.JPG"], ["DSC_0001.NEF", "DSC_0001.JPG"],
                              ["DSC_0002.jpg"], ["notes.txt"]]
