"""The photographer's own ratings: stars, rejects, colour labels and Photo Mechanic's tag, read at ingest from the
XMP sidecars beside the photos on the card (as Lightroom, Photo Mechanic, Capture One and darktable write them) or
from the files (the camera's rating), shown by `postline cull` and `postline order ratings`, and pre-filling the
review of the originals: what the photographer rejected is culled, what they picked is kept whatever the cull
suggests. A sidecar that cannot be read (broken, hostile, a link) changes nothing and says so."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pyexiv2
import pytest
from sqlmodel import select

from flows.ingest import ingest_flow
from record import ratings as ratings_record
from record import work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, PhotoStatus, StageEvent
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks import ratings as card_ratings
from tasks.pixels import ratings
from tests import cullkit as kit
from tests.conftest import SAMPLES, sample

T0 = datetime(2026, 6, 20, 14, 0, 0)


def lightroom(rating: int, label: str = "") -> bytes:
    """A sidecar as Lightroom Classic writes it: the values as attributes, rejected = rating -1."""
    label = f' xmp:Label="{label}"' if label else ""
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">\n'
            f' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
            f'  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
            f'    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" xmp:Rating="{rating}"{label}\n'
            f'    crs:Exposure2012="+0.35"/>\n </rdf:RDF>\n</x:xmpmeta>\n').encode()


def photo_mechanic(tagged: bool, color_class: int = 0, rating: int = 0) -> bytes:
    """A sidecar as Photo Mechanic writes it: a Description per namespace, the values as elements, the old
    ``xap`` prefix for the XMP namespace."""
    return (f"<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>\n"
            f"<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='XMP toolkit 2.9-9, framework 1.6'>\n"
            f"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\n"
            f"<rdf:Description rdf:about='' xmlns:photomechanic='http://ns.camerabits.com/photomechanic/1.0/'>\n"
            f" <photomechanic:Tagged>{'True' if tagged else 'False'}</photomechanic:Tagged>\n"
            f" <photomechanic:ColorClass>{color_class}</photomechanic:ColorClass>\n"
            f"</rdf:Description>\n"
            f"<rdf:Description rdf:about='' xmlns:xap='http://ns.adobe.com/xap/1.0/'>\n"
            f" <xap:Rating>{rating}</xap:Rating>\n</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
            f"<?xpacket end='w'?>").encode()


def test_ratings_as_each_program_writes_them(monkeypatch):
    assert ratings.from_xmp(lightroom(3, "Green"), "A.xmp") == ratings.FrameRating(stars=3, label="Green", source="A.xmp")
    assert ratings.from_xmp(lightroom(-1), "B.xmp").rejected
    pm = ratings.from_xmp(photo_mechanic(True, 1), "C.XMP")
    assert (pm.stars, pm.label, pm.tagged) == (0, "Winner", True)
    prefs = ratings.from_xmp(photo_mechanic(False).replace(
        b"<photomechanic:Tagged>False</photomechanic:Tagged>", b"<photomechanic:Prefs>1:3:2:000012</photomechanic:Prefs>")
        .replace(b"<photomechanic:ColorClass>0</photomechanic:ColorClass>", b"").replace(b"<xap:Rating>0</xap:Rating>", b""))
    assert (prefs.tagged, prefs.label, prefs.stars) == (True, "Superior", 2)        # "tagged:class:rating:frame"
    assert ratings.from_xmp(lightroom(0)).empty

    # what cannot be read is left out, with a note naming the sidecar; the rest of the sidecar still counts
    odd = ratings.from_xmp(lightroom(7, "Green"), "D.xmp")
    assert (odd.stars, odd.label) == (None, "Green") and "D.xmp: a rating of '7'" in odd.note
    assert ratings.from_xmp(lightroom(2, "x" * 41), "E.xmp").label is None
    assert ratings.from_xmp(lightroom(2, "Green&#10;Red"), "E.xmp").label is None          # a line break
    broken = ratings.from_xmp(lightroom(3)[:60], "F.xmp")
    assert broken.empty and "F.xmp: not readable XMP (broken at line" in broken.note
    laughs = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
              + lightroom(5).replace(b'xmp:Rating="5"', b'xmp:Label="&b;" xmp:Rating="5"'))
    hostile = ratings.from_xmp(laughs, "G.xmp")
    assert hostile.empty and "declares a document type" in hostile.note
    assert "H.xmp: empty" in ratings.from_xmp(b"", "H.xmp").note and ratings.from_xmp(b"\0" * 64, "H.xmp").note
    unknown = ratings.from_xmp(b'<?xml version="1.0" encoding="x-unheard-of"?><a/>', "J.xmp")
    assert unknown.empty and "J.xmp: not readable XMP (its declared encoding is unknown)" in unknown.note
    utf16 = ("<?xml version='1.0' encoding='utf-16'?>" + lightroom(4).decode()).encode("utf-16")
    assert ratings.from_xmp(utf16, "K.xmp").stars == 4 and ratings.from_xmp(b"\n  " + lightroom(4) + b"\0\0").stars == 4
    monkeypatch.setattr(ratings, "MAX_XMP_BYTES", 100)
    assert "I.xmp: larger than" in ratings.from_xmp(lightroom(3), "I.xmp").note


def test_the_sidecar_is_found_as_each_program_names_it_and_a_link_is_not_followed(tmp_path):
    card = tmp_path / "card"
    (card / "DCIM").mkdir(parents=True)
    for name in ("DCIM/A.CR2", "DCIM/B.NEF", "DCIM/C.ARW", "DCIM/D.dng", "DCIM/E.dng"):
        (card / name).write_bytes(b"raw")
    (card / "DCIM/A.xmp").write_bytes(lightroom(4))                  # Lightroom, Capture One, Bridge
    (card / "DCIM/B.XMP").write_bytes(photo_mechanic(True))          # Photo Mechanic, on a card from Windows
    (card / "DCIM/C.ARW.xmp").write_bytes(lightroom(-1))             # darktable: the whole name, then .xmp
    secret = tmp_path / "secret.xmp"
    secret.write_bytes(lightroom(5, "TOPSECRET"))
    os.symlink(secret, card / "DCIM/D.xmp")                          # a link out of the card
    assert [card_ratings.sidecar_of(card, f"DCIM/{n}") for n in ("A.CR2", "B.NEF", "C.ARW", "E.dng")] == \
        ["DCIM/A.xmp", "DCIM/B.XMP", "DCIM/C.ARW.xmp", None]
    got = {n: card_ratings.read_rating(card, f"DCIM/{n}", card / f"DCIM/{n}") for n in ("A.CR2", "B.NEF", "C.ARW", "D.dng")}
    assert (got["A.CR2"].stars, got["B.NEF"].tagged, got["C.ARW"].rejected) == (4, True, True)
    linked = got["D.dng"]
    assert linked.empty and "DCIM/D.xmp: a symbolic link, not followed" in linked.note
    assert "TOPSECRET" not in repr(linked)
    assert card_ratings.read_rating(card, "DCIM/E.dng", card / "DCIM/E.dng") is None


def test_the_cameras_own_rating_is_read_from_the_file(tmp_path):
    for path in sorted(SAMPLES.glob("*.*")):                       # real camera files: none rated
        if path.suffix != ".md":
            assert ratings.embedded(path) is None, path.name
    nef = tmp_path / "DSC_0001.NEF"
    shutil.copy(sample("nikon_d1.nef"), nef)
    nef.chmod(0o644)
    image = pyexiv2.Image(str(nef))                   # as a camera rating a frame on its screen writes it
    image.modify_xmp({"Xmp.xmp.Rating": "4"})
    image.close()
    assert ratings.embedded(nef) == ratings.FrameRating(stars=4)
    jpeg = kit.write_jpeg(tmp_path / "DSC_0002.JPG", kit.display(kit.linear("canon_eos_d30.crw")), T0)
    image = pyexiv2.Image(str(jpeg))
    image.modify_exif({"Exif.Image.Rating": "2"})     # EXIF's Rating tag, without XMP
    image.close()
    assert ratings.embedded(jpeg) == ratings.FrameRating(stars=2)


# --- through the line ----------------------------------------------------------------------------------------

def _card(folder: Path) -> Path:
    """Seven frames of a shoot the photographer went through in Lightroom and Photo Mechanic:
    IMG_0101 ★★★ | IMG_0201 rejected | IMG_0301 shaken (the cull suggests leaving it out) but ★★ | nikon_d1 tagged
    (darktable's name for the sidecar) | IMG_0401 and IMG_0501 (blurred) not rated | IMG_0402 a broken sidecar."""
    folder.mkdir()
    box, lighter, city = (kit.linear(n) for n in ("canon_powershot_s40.crw", "canon_eos_d30.crw", "nikon_d1.nef"))
    kit.write_frame(folder / "IMG_0101.dng", box, T0)
    kit.write_frame(folder / "IMG_0201.dng", lighter, T0 + timedelta(minutes=5))
    left = city[:, :city.shape[1] * 6 // 20 * 2]
    kit.write_frame(folder / "IMG_0301.dng", kit.smeared(left, 15, 0), T0 + timedelta(minutes=20))
    shutil.copy(sample("nikon_d1.nef"), folder / "nikon_d1.nef")
    kit.write_frame(folder / "IMG_0401.dng", kit.shifted(lighter, 0.2, ev=-0.5), T0 + timedelta(minutes=30))
    kit.write_frame(folder / "IMG_0402.dng", kit.shifted(box, 0.3, ev=0.4), T0 + timedelta(minutes=40))
    kit.write_frame(folder / "IMG_0501.dng", kit.blurred(kit.shifted(city, 0.25), 4), T0 + timedelta(minutes=50))
    (folder / "IMG_0101.xmp").write_bytes(lightroom(3))
    (folder / "IMG_0201.xmp").write_bytes(lightroom(-1))
    (folder / "IMG_0301.xmp").write_bytes(lightroom(2, "Blue"))
    (folder / "nikon_d1.nef.xmp").write_bytes(photo_mechanic(True, 3))
    (folder / "IMG_0402.xmp").write_bytes(lightroom(5)[:70])              # cut short: a failed copy
    return folder


@pytest.fixture
def rated(tmp_path, monkeypatch, home_on_server, line_file) -> tuple[int, Path]:
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    default = (Path(__file__).parents[1] / "config" / "line.toml").read_text()
    line_file(default.replace("[review_gate]\n", "[review_gate]\nenabled = true\n").replace("\nenabled = false", ""))
    card = _card(tmp_path / "card")
    order_id = create_order(client="Lea & Tom", shoot="wedding", card=card, preset_name=None, due=None).id
    ingest_flow(order_id, str(card))
    return order_id, card


def test_status_says_the_photographers_rejects_are_delivered_where_no_review_culls_them(tmp_path, home_on_server,
                                                                                         capsys):
    """On a line without the review of the originals, status said "1 rejected" of a frame the run then
    delivered to the client: it says that the rejects are not left out, and what would leave them out."""
    card = _card(tmp_path / "card")
    order_id = create_order(client="Lea & Tom", shoot="wedding", card=card, preset_name=None, due=None).id
    ingest_flow(order_id, str(card))
    assert main(["status", str(order_id)]) == 0
    said = capsys.readouterr().out
    assert "1 rejected; 1 rating(s) could not be read (the rejects are not left out: only the review of the " \
           "originals culls them" in said and "`[review_gate] enabled = true`" in said, said
    # nor are the frames the cull finds soft or badly exposed (nothing acts on it on this line): said, with where
    findings = next(line for line in said.splitlines() if line.startswith("The cull's findings, not acted on"))
    assert "blurred 2" in findings and findings.endswith(f"`postline cull {order_id}` lists the photos"), findings


def test_the_photographers_ratings_prefill_the_review_and_can_be_read_again(rated, capsys):
    order_id, card = rated
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        by_id = ratings_record.of_order(session, order_id)
    recorded = {name: by_id[p.id] for name, p in photos.items() if p.id in by_id}
    assert all(p.status is PhotoStatus.INGESTED for p in photos.values())   # a broken sidecar rejects nothing
    assert {n: (m.stars, m.label, m.tagged, m.source) for n, m in recorded.items() if not m.note} == {
        "IMG_0101.dng": (3, None, False, "IMG_0101.xmp"), "IMG_0201.dng": (-1, None, False, "IMG_0201.xmp"),
        "IMG_0301.dng": (2, "Blue", False, "IMG_0301.xmp"),
        "nikon_d1.nef": (0, "Superior", True, "nikon_d1.nef.xmp")}
    assert "IMG_0402.xmp: not readable XMP" in recorded["IMG_0402.dng"].note

    assert main(["cull", str(order_id), "--format", "json"]) == 0
    listing = {item["photo"]: item for item in json.loads(capsys.readouterr().out)}
    assert {n for n, item in listing.items() if item["suggestion"] == "reject"} == {"IMG_0301.dng", "IMG_0501.dng"}
    assert listing["IMG_0101.dng"]["rating"]["shown"] == "★★★" and listing["IMG_0401.dng"]["rating"] is None
    assert main(["order", "ratings", str(order_id)]) == 0
    said = capsys.readouterr().out
    assert ("4 of 7 photo(s) rated by the photographer (4 from sidecars): 3 picked (1 star or more, tagged), "
            "1 rejected; 1 rating(s) could not be read") in said
    assert "IMG_0402.dng: IMG_0402.xmp: not readable XMP" in said and "--read-again" in said
    assert "They pre-fill the review of the originals" in said
    assert main(["status", str(order_id)]) == 0
    assert (f"Ratings: 4 of 7 photo(s) rated by the photographer (4 from sidecars): 3 picked (1 star or more, "
            f"tagged), 1 rejected; 1 rating(s) could not be read: `postline order ratings {order_id}`"
            in capsys.readouterr().out)

    review = kit.paused_review(order_id)
    prefilled = review.schema["properties"]["cull"]["default"]             # the form the Prefect UI shows
    # rejected in Lightroom: culled; shaken but starred: kept; blurred and not rated: as the cull suggests
    assert {c["photo"]: c["reason"] for c in prefilled} == {"IMG_0201.dng": "rejected_by_photographer",
                                                            "IMG_0501.dng": "blurred"}
    assert "Kept as the photographer picked them, though the cull suggests leaving them out: IMG_0301.dng" in review.description

    # the photographer rates one more frame after the card was taken in, and mends the broken sidecar
    (card / "IMG_0401.xmp").write_bytes(photo_mechanic(True))
    (card / "IMG_0402.xmp").write_bytes(lightroom(0))
    assert main(["order", "ratings", str(order_id), "--read-again"]) == 0
    said = capsys.readouterr().out
    assert "read again for the 7 original(s) waiting for review: 2 changed" in said and "could not be read" not in said
    assert main(["review", "pending", str(order_id)]) == 0
    pending = capsys.readouterr().out
    assert "IMG_0301.dng  rated: ★★, Blue  suggested: cull: blurred" in pending
    assert "-> kept: the photographer picked it" in pending and "-> cull: rejected_by_photographer" in pending

    # keeping only the picks: the frames neither picked nor rejected go too, as not picked
    assert main(["review", "decide", str(order_id), "--accept-suggestions", "--only-picks", "--as", "sergei"]) == 0
    review.runner.join(timeout=60)
    assert review.result["counts"] == {"approved": 4, "culled": 3}
    with transaction() as session:
        culled = {p.source_name for p in work.photos(session, order_id, PhotoStatus.CULLED)}
        events = session.exec(select(StageEvent.reason).where(
            StageEvent.order_id == order_id, StageEvent.stage == ORIGINAL_REVIEW, StageEvent.reason.is_not(None))).all()
    assert culled == {"IMG_0201.dng", "IMG_0402.dng", "IMG_0501.dng"}
    assert sorted(r.split("]")[0] + "]" for r in events) == ["[not_picked]", "[not_picked]",
                                                            "[rejected_by_photographer]"]
    assert main(["order", "ratings", str(order_id)]) == 0
    assert "No original waits for review now" in capsys.readouterr().out
    assert main(["report"]) == 0                    # the ops manager: how the review met the photographer's ratings
    assert ("Review of originals, against the photographers' own ratings: rated frames decided 5, photographer's "
            "rejects kept 0 of 1, photographer's picks culled 0 of 4") in capsys.readouterr().out


def test_keeping_only_the_picks_of_an_order_without_any_is_refused(home, tmp_path, capsys):
    card = tmp_path / "card"
    card.mkdir()
    with transaction() as session:
        from record.models import Photo, ShootType

        order = work.create_order(session, client="Test", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder=str(card))
        photo = work.add_photo(session, Photo(order_id=order.id, source_name="A.dng", sha256="0" * 64, size_bytes=1,
                                              status=PhotoStatus.INGESTED, original_path="/A.dng"),
                               first_stage="cull_grade")
        ratings_record.put(session, order.id, photo.id, ratings.FrameRating(stars=-1, source="A.xmp"))
        order_id = order.id
    assert main(["review", "decide", str(order_id), "--accept-suggestions", "--only-picks"]) == 2
    assert f"no frame of order {order_id} carries a pick (1 star or more, tagged)" in capsys.readouterr().err
    assert main(["review", "decide", str(order_id), "--approve-all", "--only-picks"]) == 2
    assert "go with --accept-suggestions" in capsys.readouterr().err
    assert main(["order", "ratings", str(order_id)]) == 0                  # the default line: no review
    assert "has no review of the originals ([review_gate] enabled = false)" in capsys.readouterr().out
    shutil.rmtree(card)
    assert main(["order", "ratings", str(order_id), "--read-again"]) == 2
    err = capsys.readouterr().err
    assert "card folder" in err and "the ratings read at ingest stay" in err
    with transaction() as session:
        assert ratings_record.of_order(session, order_id)[photo.id].stars == -1


def test_the_gallery_marks_the_picks_only_where_the_mark_tells_the_client_something(monkeypatch):
    from types import SimpleNamespace

    from config.line import CullSpec
    from record.models import PhotoRating
    from surfaces.actions.client import _photographers_picks

    photos = [SimpleNamespace(id=n) for n in (1, 2, 3)]
    rated = {1: PhotoRating(photo_id=1, order_id=1, stars=2), 2: PhotoRating(photo_id=2, order_id=1, stars=-1),
             3: PhotoRating(photo_id=3, order_id=1, label="Green")}
    assert _photographers_picks(photos, rated, CullSpec()) == {1}
    assert _photographers_picks(photos, rated, CullSpec(pick_labels=("green",))) == {1, 3}
    assert _photographers_picks(photos[:1], rated, CullSpec()) == set()               # every photo a pick
    assert _photographers_picks(photos, {}, CullSpec()) == set()                      # no rating
    monkeypatch.setenv("POSTLINE_GALLERY_PICKS", "false")                  # the studio's choice: no mark
    assert _photographers_picks(photos, rated, CullSpec()) == set()


def test_the_figures_count_the_photographers_rejects_kept_and_picks_culled_at_review(home):
    from record import cull as cull_record
    from record.models import CullVerdict, Photo, ShootType

    keep, reject = CullVerdict.KEEP, CullVerdict.REJECT
    given = {"A.dng": (ratings.FrameRating(stars=-1), keep), "B.dng": (ratings.FrameRating(stars=4), reject),
             "C.dng": (ratings.FrameRating(tagged=True), keep), "D.dng": (ratings.FrameRating(stars=-1), reject),
             "E.dng": (None, reject)}                                        # not rated: not counted
    with transaction() as session:
        order = work.create_order(session, client="Test", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
        for n, (name, (rating, decided)) in enumerate(given.items()):
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=f"{n:064x}",
                                                  size_bytes=1, status=PhotoStatus.INGESTED, original_path=f"/{name}"),
                                   first_stage="cull_grade")
            ratings_record.put(session, order.id, photo.id, rating)
            cull_record.record_decision(session, order_id=order.id, photo_id=photo.id, suggested=keep, reasons=[],
                                        decided=decided, actor="vera")
    with transaction() as session:
        found = ratings_record.against_review(session, order_id=order.id)
    assert (found.decided, found.rejects, found.rejects_kept, found.picks, found.picks_culled) == (4, 2, 1, 2, 1)


def test_a_rated_photo_copied_twice_onto_the_card_keeps_its_rating_when_the_other_copy_is_kept(
        home_on_server, line_file, tmp_path, monkeypatch):
    """The same file in two folders of the card, its sidecar beside one: ingest keeps the copy it records first
    (here the one without the sidecar) and sets the other aside. The pick was lost with it; the kept photo now has
    the photographer's five stars, also once they are read again for the review."""
    from config.settings import get_settings

    monkeypatch.setenv("POSTLINE_WORKERS", "1")               # one batch after the other, in card order
    get_settings.cache_clear()
    default = (Path(__file__).parents[1] / "config" / "line.toml").read_text()
    line_file(default.replace("[review_gate]\n", "[review_gate]\nenabled = true\n").replace("\nenabled = false", ""))
    card = tmp_path / "card"
    (card / "100ABCDE").mkdir(parents=True)
    kit.write_frame(card / "100ABCDE" / "DSC_0010.dng", kit.linear("canon_powershot_s40.crw"), T0)
    (card / "101ABCDE").mkdir()
    shutil.copy(card / "100ABCDE" / "DSC_0010.dng", card / "101ABCDE" / "DSC_0010.dng")
    (card / "101ABCDE" / "DSC_0010.xmp").write_bytes(lightroom(5, "Green"))
    order_id = create_order(client="Copied", shoot="portrait", card=card, preset_name=None, due=None).id
    ingest_flow(order_id, str(card))
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        by_id = ratings_record.of_order(session, order_id)
    kept = photos["100ABCDE/DSC_0010.dng"]
    assert kept.status is PhotoStatus.INGESTED and photos["101ABCDE/DSC_0010.dng"].status is PhotoStatus.DUPLICATE
    assert (by_id[kept.id].stars, by_id[kept.id].label) == (5, "Green")
    assert main(["order", "ratings", str(order_id), "--read-again"]) == 0
    with transaction() as session:
        assert ratings_record.of_order(session, order_id)[kept.id].stars == 5
    get_settings.cache_clear()


from tests.pg import postgres_url  # noqa: E402,F401  (the session's PostgreSQL)
from tests.test_queue import make_order, record  # noqa: E402,F401  (an empty record on SQLite or PostgreSQL)


def test_copies_of_one_file_recorded_at_the_same_moment_keep_one_photo_and_its_rating(record):
    """Byte-identical copies of a photo on a card, recorded by parallel ingest batches at the same moment: on
    PostgreSQL each saw no earlier copy, and both went through the line (or both added the kept photo's rating,
    a primary-key clash that failed the batch). One is kept, the others are its duplicates, the rating kept once."""
    import threading

    from record.models import Photo, PhotoRating
    from tasks.ingest import _record

    for attempt in range(3):
        with transaction() as session:
            order_id = make_order(session, client=f"Copies {attempt}").id
        start, kept = threading.Barrier(3), []

        def ingest(n: int) -> None:
            photo = Photo(order_id=order_id, source_name=f"DCIM/10{n}CANON/IMG_0001.CR2", sha256="ab" * 32,
                          size_bytes=1000, status=PhotoStatus.INGESTED)
            start.wait()
            kept.append(_record(order_id, photo, "cull_grade",
                                rating=ratings.FrameRating(stars=4, source=f"IMG_0001-{n}.xmp") if n else None))
        threads = [threading.Thread(target=ingest, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(kept) == 3, "a copy's transaction failed"
        with transaction() as session:
            statuses = sorted(p.status.value for p in work.photos(session, order_id))
            stars = [r.stars for r in session.exec(select(PhotoRating).where(PhotoRating.order_id == order_id))]
        assert statuses == ["duplicate", "duplicate", "ingested"], (attempt, statuses)
        assert stars == [4]
