"""Two photographers, two bodies of one model, one clock five minutes behind: the delivery numbers the day
wrongly until a lead sets that body's clock right (two photos of the same moment, or a shift). Then the package
made again numbers the photos as the day went, its files carry the times set right, and the client's gallery
shows them in that order; the originals and the record keep the camera's own time. Through the command line on
the tests' Prefect server, with DNG files of two bodies (serial numbers in their headers)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from record import work
from record.db import transaction
from surfaces.actions import client
from surfaces.actions.cameras import parse_shift
from surfaces.cli import main
from tasks.pixels.metadata import read_metadata
from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import render_scene
from tests.conftest import sample
from tests.flowkit import Delivery, cli, cli_order
from tests.test_report_flow import artifacts

NOON = datetime(2026, 6, 20, 14, 0, 0)
BEHIND = timedelta(minutes=5)
# (file, body, true moment in seconds after NOON): A/DSC_0003 and B/DSC_0002 are the same moment (the first kiss)
SHOTS = [("A/DSC_0001.dng", "A-1001", 0), ("A/DSC_0002.dng", "A-1001", 20), ("A/DSC_0003.dng", "A-1001", 30),
         ("B/DSC_0001.dng", "B-2002", 10), ("B/DSC_0002.dng", "B-2002", 30), ("B/DSC_0003.dng", "B-2002", 50)]
AS_THE_DAY_WENT = ["A/DSC_0001.dng", "B/DSC_0001.dng", "A/DSC_0002.dng", "A/DSC_0003.dng", "B/DSC_0002.dng",
                   "B/DSC_0003.dng"]
ON_THEIR_CLOCKS = ["B/DSC_0001.dng", "B/DSC_0002.dng", "B/DSC_0003.dng", "A/DSC_0001.dng", "A/DSC_0002.dng",
                   "A/DSC_0003.dng"]
BODY = "Postline Synthetic Camera"


def _card(folder: Path) -> Path:
    for n, (name, serial, second) in enumerate(SHOTS):
        clock = NOON + timedelta(seconds=second) - (BEHIND if serial.startswith("B") else timedelta(0))
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write_dng(folder / name, render_scene(("portrait", "landscape", "interior")[n % 3], 320, 240, seed=n),
                  replace(DngMeta(), capture_time=clock, serial=serial))
    (folder / "A/DSC_0003.xmp").write_text(          # the first kiss, starred by its photographer in Lightroom
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/></rdf:RDF></x:xmpmeta>')
    return folder


def _sequence(package: Path) -> list[str]:
    full = sorted((e for e in Delivery(package).manifest["files"] if e["rendition"] == "full"), key=lambda e: e["seq"])
    return [e["source_name"] for e in full]


def _taken(package: Path, source_name: str) -> str:
    delivery = Delivery(package)
    image = Image.open(io.BytesIO(delivery.read(delivery.entry(source_name, "full"))))
    return image.getexif().get_ifd(0x8769)[0x9003]


def test_a_body_whose_clock_was_behind_is_set_right_and_its_photos_fall_in_place(home_on_server, tmp_path):
    card = _card(tmp_path / "card")
    order_id = cli_order(card, client="Ines & Tom", shoot="wedding")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    package = Path(ran.strip().splitlines()[-1])
    assert _sequence(package) == ON_THEIR_CLOCKS
    assert "Cameras: " in ran and "not compared" in ran
    report = artifacts(f"order-{order_id}-delivery")[-1].data                  # the lead's view in the Prefect UI
    assert f"**Cameras:** {BODY} #B-2002 (3), {BODY} #A-1001 (3); clocks as the cameras wrote them" in report
    assert ("**The photographer's ratings:** 1 of 6 photo(s) rated by the photographer (1 from sidecars): 1 picked"
            in report)

    code, listed = cli("order", "cameras", str(order_id))
    assert code == 0, listed
    assert f"{BODY} #B-2002: 3 photo(s), 2026-06-20 13:55:10 to 2026-06-20 13:55:50 on its clock" in listed
    assert f"{BODY} #A-1001: 3 photo(s)" in listed
    assert listed.index("#B-2002") < listed.index("#A-1001")           # on their own clocks, B shot first
    assert "--match PHOTO_OF_THAT_CAMERA PHOTO_OF_ANOTHER" in listed

    code, said = cli("order", "clock", str(order_id), "--match", "B/DSC_0002.dng", "A/DSC_0003.dng", "--as", "Vera")
    assert code == 0, said
    assert f"{BODY} #B-2002's clock set right by +5m" in said and "its 3 photo(s)" in said
    assert f"postline deliver {order_id}` packs it again" in said

    code, packed = cli("deliver", str(order_id))
    assert code == 0, packed
    again = Path(packed.strip().splitlines()[-1])
    assert _sequence(again) == AS_THE_DAY_WENT
    assert Delivery(again).mismatches() == []
    assert _taken(again, "B/DSC_0001.dng") == "2026:06:20 14:00:10"     # the time set right, in the file
    assert _taken(again, "A/DSC_0002.dng") == "2026:06:20 14:00:20"     # the other body's as it was
    view = client.gallery(order_id)
    assert [p.name for p in view.photos] == AS_THE_DAY_WENT
    with transaction() as session:                                      # the camera's own time is kept
        photo = next(p for p in work.photos(session, order_id) if p.source_name == "B/DSC_0001.dng")
    assert photo.capture_time == datetime(2026, 6, 20, 13, 55, 10) and photo.camera_serial == "B-2002"
    assert read_metadata(photo.original_path).capture_time == datetime(2026, 6, 20, 13, 55, 10)

    code, listed = cli("order", "cameras", str(order_id))
    assert "clock set right by +5m: B/DSC_0002.dng taken at the same moment as A/DSC_0003.dng (set by Vera" in listed
    assert "Their clocks are taken as they were" not in listed
    assert "clocks set right" in cli("status", str(order_id))[1]

    code, said = cli("order", "clock", str(order_id), "--camera", "#B-2002", "--by", "+4m50s")   # set again
    assert code == 0, said
    assert "clock set right by +4m50s (shifted +4m50s)" in said
    assert "clock set right by +4m50s" in cli("order", "cameras", str(order_id))[1]


def test_what_cannot_be_set_is_refused_with_what_to_give(home_on_server, tmp_path, capsys):
    card = _card(tmp_path / "card")
    order_id = cli_order(card, client="Ines & Tom", shoot="wedding")
    assert cli("order", "cameras", str(order_id))[1].startswith(f"Order {order_id}: no photo in the line yet")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran

    code, said = cli("order", "clock", str(order_id), "--camera", "Synthetic", "--by", "+5m")
    assert code == 2 and "'Synthetic' names 2 cameras of this order" in said and "#A-1001" in said
    code, said = cli("order", "clock", str(order_id), "--camera", "Nikon", "--by", "+5m")
    assert code == 2 and "no camera 'Nikon' in this order. Its cameras: " in said
    code, said = cli("order", "clock", str(order_id), "--camera", "#B-2002")
    assert code == 2 and "--camera needs --by" in said
    code, said = cli("order", "clock", str(order_id), "--match", "A/DSC_0001.dng", "A/DSC_0002.dng")
    assert code == 2 and "are both from" in said
    code, said = cli("order", "clock", str(order_id), "--match", "DSC_0001.dng", "A/DSC_0002.dng")
    assert code == 2 and "'DSC_0001.dng' is the name of 2 photos" in said and "Give its folder too" in said
    with pytest.raises(SystemExit) as exited:                                  # argparse's usage error
        main(["order", "clock", str(order_id), "--camera", "#B-2002", "--by", "soon"])
    assert exited.value.code == 2 and "is not a shift: write it as +3m12s" in capsys.readouterr().err
    code, said = cli("order", "clock", str(order_id), "--camera", "#B-2002", "--by", "+40000d")
    assert code == 2 and "more than a clock is ever off" in said
    assert "set right" not in cli("order", "cameras", str(order_id))[1]


@pytest.mark.parametrize("text, seconds", [("+3m12s", 192), ("-1h", -3600), ("+1d2h", 93600), ("90s", 90),
                                           ("+0:03:12", 192), ("-1:00:00", -3600), ("+2.5s", 2.5)])
def test_a_shift_is_read_as_a_lead_writes_it(text, seconds):
    assert parse_shift(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "+", "3", "5 minutes", "+3m12", "1:2:3:4", "1:00", "+3:12"])
def test_what_is_not_a_shift_is_refused(text):
    with pytest.raises(ValueError, match="is not a shift"):
        parse_shift(text)


def test_a_body_serial_number_is_read_where_the_file_declares_one(tmp_path):
    dng = write_dng(tmp_path / "a.dng", render_scene("portrait", 64, 48, seed=1), replace(DngMeta(), serial="0320-77"))
    assert read_metadata(dng).camera_serial == "0320-77"
    assert read_metadata(write_dng(tmp_path / "b.dng", render_scene("portrait", 64, 48, seed=1), DngMeta())
                         ).camera_serial is None
    jpeg = tmp_path / "c.jpg"
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
    exif.get_ifd(0x8769)[0xA431] = "112233"
    Image.new("RGB", (64, 48), "grey").save(jpeg, exif=exif)
    assert read_metadata(jpeg).camera_serial == "112233"
    exif.get_ifd(0x8769)[0xA431] = "x" * 41                              # not a serial number: not kept
    Image.new("RGB", (64, 48), "grey").save(jpeg, exif=exif)
    assert read_metadata(jpeg).camera_serial is None
    for name in ("nikon_d1.nef", "canon_eos_d30.crw", "kodak_dc120.kdc"):   # real cameras that write none here
        assert read_metadata(sample(name)).camera_serial is None


def test_two_photos_named_alike_but_for_case_are_told_apart_by_their_exact_names():
    """`order bw 2 dsc_1.dng` on a card holding DSC_1.dng and dsc_1.DNG (one folder) said 'Give its folder too'."""
    from record import work
    from record.models import Photo, PhotoStatus

    photos = [Photo(id=i + 1, order_id=1, source_name=name, sha256=f"{i:064d}", size_bytes=1,
                    status=PhotoStatus.DELIVERED) for i, name in enumerate(("DSC_1.dng", "dsc_1.DNG", "a/x.dng"))]
    said = work.which_photo(1, "dsc_1.dng", work.named(photos, "dsc_1.dng"))
    assert "'dsc_1.dng' is the name of 2 photos of this order: DSC_1.dng, dsc_1.DNG." in said
    assert "exactly as it is on the card (upper and lower case tell them apart)" in said
    assert work.named(photos, "dsc_1.DNG") == [photos[1]]                            # the exact name: that one
