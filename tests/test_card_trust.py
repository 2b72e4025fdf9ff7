"""A card folder as a studio may really get it: links to files and folders outside the card (a system file, a
DNG, a folder of DNGs), a link to another file of the card, a pipe, a device, and files whose content is a
secret. Only the card's own regular files are read and delivered; every other entry is reported by name; and
nothing of any rejected file's content reaches the client (package, manifest), the record's reasons or
`postline status`."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from sqlmodel import select

from record import work
from record.db import transaction
from record.models import PhotoStatus, StageEvent, WorkItem
from tasks.files import NotRegularFile, open_card_file
from tasks.synthetic import DngMeta, render_scene, write_dng
from tests.flowkit import Delivery, cli, photos_by_name, sha256

LINKED_SECRET = "LINKED-SECRET-b7e1f04c"   # in files outside the card, reached only through links
CARD_SECRET = "CARD-SECRET-5d2a9e83"       # in bad files on the card itself


def _secret_text(secret: str) -> str:
    return "".join(f"root:x:0:0:{secret}:/root:/bin/bash\n" for _ in range(40))


@pytest.fixture(scope="module")
def linked_card(tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "passwd").write_text(_secret_text(LINKED_SECRET))
    write_dng(outside / "elsewhere.dng", render_scene("landscape", 320, 240, seed=9), DngMeta())
    (outside / "folder").mkdir()
    write_dng(outside / "folder" / "IMG_9000.dng", render_scene("interior", 320, 240, seed=8), DngMeta())

    card = tmp_path_factory.mktemp("card")
    write_dng(card / "IMG_0001.dng", render_scene("portrait", 320, 240, seed=1), DngMeta())
    (card / "sub").mkdir()
    write_dng(card / "sub" / "IMG_0002.dng", render_scene("landscape", 320, 240, seed=2), DngMeta())
    links = {"passwd.dng": outside / "passwd",          # a system file, named like a RAW
             "passwd": outside / "passwd",              # the same, as it is
             "elsewhere.dng": outside / "elsewhere.dng",  # a real DNG outside the card
             "more": outside / "folder",                # a folder outside the card
             "sub/again.dng": card / "IMG_0001.dng",   # another file of the card
             "dangling.dng": outside / "gone.dng"}      # a link to nothing
    for name, target in links.items():
        os.symlink(target, card / name)
    (card / "notes.txt").write_text(_secret_text(CARD_SECRET))               # not a photo
    (card / "fake.dng").write_text(_secret_text(CARD_SECRET))                # text named like a RAW
    (card / "fake.jpg").write_text(_secret_text(CARD_SECRET))                # text named like a JPEG
    (card / "fake.tif").write_bytes(b"II*\0" + _secret_text(CARD_SECRET).encode())  # TIFF magic, then the secret
    (card / "fake.nef").write_bytes(b"MM\0*\0\0\0\x08" + _secret_text(CARD_SECRET).encode())
    os.mkfifo(card / "pipe.dng")
    specials = {"pipe.dng": "named pipe"}
    try:
        os.mknod(card / "null.dng", 0o600 | 0o020000, os.makedev(1, 3))  # a character device (/dev/null's)
        specials["null.dng"] = "device file"
    except PermissionError:
        pass  # not root: the pipe stands for the special files
    return {"card": card, "outside": outside, "links": links, "specials": specials}


@pytest.fixture(scope="module")
def linked_order(prefect_api, linked_card, tmp_path_factory, request):
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    from config.settings import get_settings

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("POSTLINE_HOME", str(home))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("POSTLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    code, created = cli("order", "create", "--client", "Linked", "--shoot", "portrait", "--from",
                         str(linked_card["card"]), "--no-selection")
    assert code == 0, created
    order_id = int(created.strip().splitlines()[-1])
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    status = cli("status")[1] + cli("status", str(order_id))[1]
    with transaction() as session:
        order = work.get_order(session, order_id)
    yield {"order_id": order_id, "package": Path(order.delivery_path), "home": home, "created": created,
           "run_output": ran, "status": status, **linked_card}
    get_settings.cache_clear()


def test_only_the_cards_own_regular_files_are_delivered(linked_order):
    delivery = Delivery(linked_order["package"])
    assert delivery.delivered_sources() == {"IMG_0001.dng", "sub/IMG_0002.dng"}
    assert delivery.mismatches() == []
    outside = {sha256(linked_order["outside"] / "elsewhere.dng"), sha256(linked_order["outside"] / "folder" / "IMG_9000.dng")}
    assert not outside & {e["source_sha256"] for e in delivery.manifest["files"]}
    card = linked_order["card"]
    assert {e["source_sha256"] for e in delivery.manifest["files"] if e["source_sha256"]} == {
        sha256(card / "IMG_0001.dng"), sha256(card / "sub" / "IMG_0002.dng")}


def test_every_link_and_special_file_is_reported_by_name_and_not_followed(linked_order):
    photos = photos_by_name(linked_order["order_id"])
    not_delivered = {n["source_name"]: n for n in Delivery(linked_order["package"]).manifest["not_delivered"]}
    for name in linked_order["links"]:
        photo = photos[name]
        assert photo.status is PhotoStatus.REJECTED, name
        assert photo.reason.startswith(f"{name}: a symbolic link, not followed"), photo.reason
        assert "copy the file" in photo.reason
        assert photo.original_path is None and photo.size_bytes == 0 and photo.sha256 == ""
        assert not_delivered[name]["reason"] == photo.reason
    for name, what in linked_order["specials"].items():
        assert photos[name].status is PhotoStatus.REJECTED and what in photos[name].reason, photos[name].reason
        assert photos[name].reason.startswith(f"{name}: ")
    # nothing under the linked folder was taken as a card file
    assert not any(name.startswith("more/") for name in photos)


def test_no_linked_file_was_read_into_postline(linked_order):
    """The archive holds the card's own files only: not the system file, not the DNG outside the card."""
    home = linked_order["home"]
    archived = [p for p in (home / "archive").rglob("*") if p.is_file()]
    contents = b"".join(p.read_bytes() for p in archived)
    assert LINKED_SECRET.encode() not in contents
    outside_dng = (linked_order["outside"] / "elsewhere.dng").read_bytes()
    assert all(p.read_bytes() != outside_dng for p in archived)


def test_no_secret_reaches_the_client_the_record_or_the_status(linked_order):
    photos = photos_by_name(linked_order["order_id"])
    for name in ("notes.txt", "fake.dng", "fake.jpg", "fake.tif", "fake.nef"):
        assert photos[name].status is PhotoStatus.REJECTED and photos[name].reason.startswith(name), name
    everything = b""
    for path in sorted(linked_order["package"].iterdir()):          # every ZIP's every file, and the sheets
        everything += path.read_bytes()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                everything += b"".join(archive.read(n) for n in archive.namelist())
    with transaction() as session:
        texts = [p.reason or "" for p in photos.values()]
        texts += [e.reason or "" for e in session.exec(select(StageEvent)).all()]
        texts += [i.reason or "" for i in session.exec(select(WorkItem)).all()]
        texts += [f"{p.camera_make} {p.camera_model} {p.lens}" for p in photos.values()]
    key = f"order-{linked_order['order_id']}-delivery"
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert artifacts
    for secret in (LINKED_SECRET, CARD_SECRET):
        for fragment in (secret, secret[:12], "root:x:0:0", "root:x:0", secret.encode().hex()[:16]):
            assert fragment.encode() not in everything, fragment
            assert not any(fragment in text for text in texts), fragment
            assert fragment not in linked_order["status"], fragment
            assert fragment not in linked_order["run_output"], fragment
            assert not any(fragment in a.data for a in artifacts), fragment
    assert "fake.dng" in linked_order["status"] and "passwd.dng" in linked_order["status"]


def test_order_create_counts_only_regular_files(linked_order):
    created = linked_order["created"]
    regular = 2 + 5   # the two DNGs, notes.txt and the four fakes
    not_read = len(linked_order["links"]) + len(linked_order["specials"])
    assert f"{regular} files in" in created
    assert f"{not_read} more not read: symbolic links, pipes or devices" in created


def test_a_link_swapped_in_after_the_scan_is_refused_when_opened(tmp_path):
    """The race: the card was scanned, then a file became a link (or a folder on the way did)."""
    card = tmp_path / "card"
    (card / "DCIM").mkdir(parents=True)
    (card / "DCIM" / "IMG_1.dng").write_bytes(b"photo")
    secret = tmp_path / "secret"
    secret.write_text(LINKED_SECRET)
    with open_card_file(card, "DCIM/IMG_1.dng") as fh:
        assert fh.read() == b"photo"
    (card / "DCIM" / "IMG_1.dng").unlink()
    os.symlink(secret, card / "DCIM" / "IMG_1.dng")
    with pytest.raises(NotRegularFile, match="symbolic link"):
        open_card_file(card, "DCIM/IMG_1.dng")
    shutil.rmtree(card / "DCIM")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "IMG_1.dng").write_text(LINKED_SECRET)
    os.symlink(tmp_path / "elsewhere", card / "DCIM")
    with pytest.raises(NotRegularFile, match="symbolic link"):
        open_card_file(card, "DCIM/IMG_1.dng")
    with pytest.raises(NotRegularFile):
        open_card_file(card, "../secret")


def test_photos_named_in_other_scripts_are_delivered(prefect_api, home, tmp_path, monkeypatch):
    """A file named in Japanese, Cyrillic or Greek letters only (or with no letter at all) was refused as 'not a
    photo type (no extension)': its archive copy's name lost everything but the letters a-z, its extension too,
    and the studio was told to leave a good frame out of the order. Two files whose names are alike once made safe
    (here '日本_写真.dng' and '_.dng') were copied to one temporary name by two threads, and one was lost."""
    from tests.flowkit import run_order

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    card = tmp_path / "card"
    card.mkdir()
    names = ["日本_写真.dng", "Свадьба.dng", "ΓΑΜΟΣ.DNG", "_.dng", "DSC_0001.dng"]
    for seed, name in enumerate(names):
        write_dng(card / name, render_scene("portrait", 96, 64, seed=seed + 3), DngMeta())
    order_id, package = run_order(card, client="山田 & 佐藤")
    assert Delivery(package).delivered_sources() == set(names)
    assert Delivery(package).mismatches() == []
