"""A card file refused because its copy was broken, copied again as the refusal asks: the order's next run takes
the new copy. Delivered already, the order runs again and its delivery is made again, in place, with the photo
and the rest, the photo in place of the camera's JPEG that stood in for it (not a client's revision); the photo
keeps its row, with its refusal and its ingest in its history. A refused file nobody copied again is not read
again, and a delivered order with nothing copied again is not run again. Real camera files, the command line on
the tests' Prefect server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from record import work
from record.db import transaction
from record.models import INGEST, EventKind, OrderStatus, Photo, PhotoStatus
from surfaces.actions.orders import create_order
from tasks.ingest import copied_again, fresh_originals
from tests import cullkit as kit
from tests.conftest import sample
from tests.flowkit import Delivery, cli, cli_order, photos_by_name, sha256
from tests.test_order_retry import numbers

BROKEN, STAND_IN = "DCIM/IMG_0003.CRW", "DCIM/IMG_0003.JPG"


def _copy(name: str, to: Path, *, keep: float = 1.0) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    data = sample(name).read_bytes()
    to.write_bytes(data[:int(len(data) * keep)])
    return to


def test_a_broken_copy_copied_again_joins_the_delivery_of_a_delivered_order_run_again(home_on_server, tmp_path):
    card = tmp_path / "card"
    _copy("nikon_d1.nef", card / "DCIM" / "DSC_0001.NEF")
    _copy("canon_powershot_s40.crw", card / "DCIM" / "IMG_0002.CRW")
    _copy("canon_eos_d30.crw", card / BROKEN, keep=0.5)          # the card reader gave up half way
    kit.camera_jpeg(card / STAND_IN, sample("canon_eos_d30.crw"))    # shot RAW+JPEG: its JPEG is whole
    order_id = cli_order(card, client="Mara", shoot="portrait")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    first = Path(ran.strip().splitlines()[-1])
    assert Delivery(first).delivered_sources() == {"DCIM/DSC_0001.NEF", "DCIM/IMG_0002.CRW", STAND_IN}
    before = numbers(first)
    refused = photos_by_name(order_id)[BROKEN]
    assert refused.status is PhotoStatus.REJECTED
    status = cli("status", str(order_id))[1]
    assert f"{BROKEN}: not a readable RAW file" in status and "Re-copy it from the card" in status

    code, again = cli("order", "run", str(order_id))               # nothing copied again: nothing to do
    assert code == 0 and Path(again.strip().splitlines()[-1]) == first

    _copy("canon_eos_d30.crw", card / BROKEN)                        # copied again, whole
    code, revised = cli("order", "run", str(order_id))
    assert code == 0, revised
    package = Path(revised.strip().splitlines()[-1])
    assert package == first                                          # the same delivery, made again whole
    assert Delivery(package).delivered_sources() == {"DCIM/DSC_0001.NEF", "DCIM/IMG_0002.CRW", BROKEN}
    assert Delivery(package).mismatches() == []
    now = numbers(package)                                           # the names the client has stay theirs
    assert now == {**{k: v for k, v in before.items() if k != STAND_IN}, BROKEN: before[STAND_IN]}
    photo = photos_by_name(order_id)[BROKEN]
    assert photo.id == refused.id and photo.status is PhotoStatus.DELIVERED and "readable" not in photo.reason
    assert photo.sha256 != refused.sha256 and photo.size_bytes == sample("canon_eos_d30.crw").stat().st_size
    with transaction() as session:
        order = work.get_order(session, order_id)
        history = [e.kind for e in work.events(session, order_id) if e.photo_id == photo.id and e.stage == INGEST]
    assert order.status is OrderStatus.DELIVERED and order.revisions == 0          # no client's revision
    assert history == [EventKind.REJECTED, EventKind.INGESTED]
    stand_in = photos_by_name(order_id)[STAND_IN]                          # the JPEG gave way to its RAW
    assert stand_in.status is PhotoStatus.DUPLICATE and stand_in.duplicate_of == photo.id
    assert "stood in for the RAW" in stand_in.reason
    status = cli("status", str(order_id))[1]
    assert BROKEN not in status
    ingest = next(line.split() for line in status.splitlines() if line.startswith("Ingest "))
    assert ingest[1:3] == ["4", "4"]              # photos in, finished: the file copied again counts once
    assert ingest[5] == "0", status               # ... and not as failed too (in 4, finished 4, failed 1)


def test_only_a_refused_file_copied_again_is_read_again(home_on_server, tmp_path):
    card = tmp_path / "card"
    for name in ("a.CRW", "b.CRW", "c.CRW", "d.CRW"):
        _copy("canon_eos_d30.crw", card / name, keep=0.5)
    order_id = create_order(client="Mara", shoot="portrait", card=card, preset_name=None, due=None).id
    from flows.ingest import ingest_flow

    ingest_flow(order_id, str(card))
    assert {p.status for p in photos_by_name(order_id).values()} == {PhotoStatus.REJECTED}
    later = time.time() + 5
    _copy("canon_eos_d30.crw", card / "a.CRW")                       # whole now: another size
    broken = (card / "b.CRW").read_bytes()                            # the same size, other bytes, written since
    (card / "b.CRW").write_bytes(broken[:-1] + bytes([broken[-1] ^ 0xFF]))
    os.utime(card / "b.CRW", (later, later))
    os.utime(card / "c.CRW", (later, later))                          # touched: the same bytes
    assert copied_again(order_id, card) == {"a.CRW", "b.CRW"}         # d.CRW: as refused, not read
    ingest_flow(order_id, str(card))
    photos = photos_by_name(order_id)
    assert photos["a.CRW"].status is PhotoStatus.INGESTED
    assert photos["b.CRW"].status is PhotoStatus.REJECTED and photos["b.CRW"].sha256 != photos["d.CRW"].sha256
    assert copied_again(order_id, card) == set()


def _damaged(name: str, to: Path) -> Path:
    """The sample ``name`` with a quarter of its bytes, a third of the way in, as a card read got them wrong: an
    uncompressed RAW decodes them without complaint, as a band of static (tasks.pixels.decode.noise_rows)."""
    data = bytearray(sample(name).read_bytes())
    middle = slice(len(data) // 3, len(data) // 3 + len(data) // 4)
    data[middle] = np.random.default_rng(7).integers(0, 256, middle.stop - middle.start, np.uint8).tobytes()
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(bytes(data))
    return to


def test_a_raw_damaged_mid_file_copied_again_over_it_is_read_again_by_order_retry(home_on_server, tmp_path):
    card = tmp_path / "card"
    _damaged("nikon_d1.nef", card / "DSC_0001.NEF")
    _copy("canon_powershot_s40.crw", card / "IMG_0002.CRW")
    order_id = cli_order(card, client="Mara", shoot="portrait")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    failed = photos_by_name(order_id)["DSC_0001.NEF"]
    assert failed.status is PhotoStatus.FAILED and "hold noise, not a picture" in failed.reason
    assert "copy it again over this one in the order's card folder" in failed.reason      # what to do, said
    damaged_copy = Path(failed.original_path)

    assert fresh_originals(order_id, ["DSC_0001.NEF"]) == {}          # the card's file as it was: nothing to copy
    _copy("canon_powershot_s40.crw", card / "DSC_0001.NEF")          # the wrong file copied over it: refused
    code, said = cli("order", "retry", str(order_id), "DSC_0001.NEF")
    assert code != 0 and "now holds the same bytes as IMG_0002.CRW" in said and "Nothing was put back" in said
    assert photos_by_name(order_id)["DSC_0001.NEF"].status is PhotoStatus.FAILED

    _copy("nikon_d1.nef", card / "DSC_0001.NEF")                     # the card's whole file, copied again
    code, said = cli("order", "retry", str(order_id), "DSC_0001.NEF")
    assert code == 0, said
    assert "DSC_0001.NEF (Cull & grade; copied again from the card: its bytes differ from the copy that failed)" in said
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    package = Path(ran.strip().splitlines()[-1])
    assert Delivery(package).delivered_sources() == {"DSC_0001.NEF", "IMG_0002.CRW"}
    assert Delivery(package).mismatches() == []
    photo = photos_by_name(order_id)["DSC_0001.NEF"]
    assert photo.id == failed.id and photo.status is PhotoStatus.DELIVERED
    assert photo.sha256 == sha256(sample("nikon_d1.nef")) != failed.sha256
    assert Path(photo.original_path).read_bytes() == sample("nikon_d1.nef").read_bytes()
    assert not damaged_copy.exists()                                 # the damaged copy is not kept beside it


def test_one_wrong_file_copied_over_two_failed_photos_is_refused_and_leaves_no_copy(home, tmp_path):
    """Order retry's fresh copies (tasks.ingest.fresh_originals): a file copied over two failed photos' card files
    was taken for both (only the record's bytes were compared), and a refusal part way left the copies made before
    it in the archive, recorded nowhere."""
    from record import moves
    from record.models import ShootType, WorkItem, WorkStatus
    from tasks.files import archive_dir
    from tasks.ingest import CopiedWrongFile

    card = tmp_path / "card"
    card.mkdir()
    with transaction() as session:
        order = work.create_order(session, client="Mara", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None,
                                  card_folder=str(card))
        for name, data in (("A.NEF", b"first damaged copy"), ("B.NEF", b"second damaged copy")):
            (card / name).write_bytes(data)
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=sha256(card / name),
                                                  size_bytes=len(data), status=PhotoStatus.INGESTED),
                                   first_stage=None)
            item = moves.enqueue(session, order_id=order.id, photo_id=photo.id, stage="cull_grade", round=1,
                                 input_path=str(card / name), actor="test")
            moves.move_item(session, work.claim_queued(session, item.id), WorkStatus.FAILED, actor="test",
                            reason="rows of noise")
            moves.move_photo(session, photo, PhotoStatus.FAILED, stage="cull_grade", round=1, actor="test",
                             reason="rows of noise")
        order_id = order.id
    for name in ("A.NEF", "B.NEF"):
        (card / name).write_bytes(b"one and the same file, copied over both")
    with pytest.raises(CopiedWrongFile, match="B.NEF: the file in the card folder now holds the same bytes as "
                                              "A.NEF"):
        fresh_originals(order_id, [])
    assert not archive_dir(order_id).exists() or list(archive_dir(order_id).iterdir()) == []
    with transaction() as session:
        assert {i.status for i in session.exec(select(WorkItem)).all()} == {WorkStatus.FAILED}
