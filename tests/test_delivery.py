"""Delivery on real camera files, checked the way a client's lab and a careful photographer would: every
rendition's size, colour profile, quality and metadata as its recipe says (read back with pyexiv2 and with
Pillow), GPS and serial numbers gone unless the recipe keeps them, the capture time kept, a package that
`postline verify` passes and that names the file when one byte of it changes, hostile names that neither
escape the package nor overwrite each other, and the package downloaded through a signed link over real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pyexiv2
import pytest
import rawpy
import tifffile
from PIL import Image, ImageCms, JpegImagePlugin

from record import work
from record.db import transaction
from record.models import PhotoStatus
from surfaces.cli import main
from tasks.download import Download
from tests.conftest import sample
from tests.flowkit import Delivery, run_order

ARTIST = "Zoë & Ana Łukasiewicz — Studio Ñ"          # 37 bytes of UTF-8: more than IPTC's By-line holds
STUDIO = {"POSTLINE_STUDIO_NAME": "Studio Ñ", "POSTLINE_STUDIO_ARTIST": ARTIST,
          "POSTLINE_STUDIO_COPYRIGHT": "© {year} Studio Ñ, all rights reserved",
          "POSTLINE_STUDIO_EMAIL": "hello@studio-n.example", "POSTLINE_STUDIO_PHONE": "+34 600 000 000",
          "POSTLINE_STUDIO_WEBSITE": "https://studio-n.example"}
CLIENT = "../../Zoë & Łukasz"                        # a path in a client's name goes nowhere
GPS = {"Exif.GPSInfo.GPSLatitudeRef": "N", "Exif.GPSInfo.GPSLatitude": "41/1 23/1 1953/100",
       "Exif.GPSInfo.GPSLongitudeRef": "E", "Exif.GPSInfo.GPSLongitude": "2/1 10/1 2859/100"}
CAMERA_JPEG = {"Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS D30",
               "Exif.Photo.DateTimeOriginal": "2002:11:24 15:11:22", "Exif.Photo.BodySerialNumber": "171048961",
               "Exif.Photo.LensModel": "EF50mm f/1.8 II", "Exif.Photo.LensSerialNumber": "0000c1234", **GPS}

RECIPE = """
description = "test: every kind of rendition, hostile name templates"
[[renditions]]
key = "full"
set = "client"
quality = 92
name = "{original}"              # two card files of one name in different folders collide here

[[renditions]]
key = "web"
set = "client"
long_edge = 800
quality = 85
sharpen = 40
name = "{original}"

[[renditions]]
key = "social"
long_edge = 500
aspect = "4:5"
anchor = "faces"
quality = 80
name = "{client}"                # every photo collides

[[renditions]]
key = "print"
format = "tiff"
bit_depth = 16
colour_space = "adobe_rgb"
dpi = 240
name = "../{client}/{seq:03d}-{original}"

[[renditions]]
key = "p3"
long_edge = 600
quality = 95
colour_space = "display_p3"
name = "{seq:03d}"

[[renditions]]
key = "proof"
long_edge = 600
quality = 70
watermark = { text = "PROOF {studio}", opacity = 0.5, size = 0.1 }
name = "/etc/{original}"
"""
KEEP = """
description = "test: the full size only, GPS and serials kept, no client name"
[[renditions]]
key = "full"
quality = 90
[metadata]
keep_gps = true
keep_serials = true
client_name = false
"""


def _camera_jpeg(path: Path, *, quality: int) -> Path:
    """A JPEG the way a camera writes one: real sensor data (a Canon EOS D30 RAW, developed), EXIF with the capture
    time, camera, lens, serial numbers and GPS position, and XMP with serial and GPS too."""
    with rawpy.imread(str(sample("canon_eos_d30.crw"))) as raw:
        rgb = raw.postprocess(half_size=True, use_camera_wb=True)
    Image.fromarray(rgb).save(path, "JPEG", quality=quality)
    with pyexiv2.Image(str(path)) as image:
        image.modify_exif(CAMERA_JPEG)
        image.modify_xmp({"Xmp.aux.SerialNumber": "171048961", "Xmp.exif.GPSLatitude": "41,23.3255N"})
    return path


@pytest.fixture(scope="module")
def delivered(prefect_api, tmp_path_factory, request):
    """One order on real camera files and hostile names, delivered with RECIPE; a copy of its package."""
    from config.settings import get_settings

    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    home = tmp_path_factory.mktemp("home")
    recipes = tmp_path_factory.mktemp("recipes")
    (recipes / "portrait.toml").write_text(RECIPE)
    for key, value in {"POSTLINE_HOME": str(home), "POSTLINE_RECIPES_DIR": str(recipes), **STUDIO}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    card = tmp_path_factory.mktemp("card")
    (card / "sub").mkdir()
    (card / "gps").mkdir()
    shutil.copy(sample("nikon_d1.nef"), card / "DSC 0001 (copy).NEF")
    shutil.copy(sample("canon_powershot_s40.crw"), card / "sub" / "IMG_0119.CRW")
    _camera_jpeg(card / "IMG:0119.jpg", quality=90)                     # 'IMG:0119' and 'IMG_0119' meet
    _camera_jpeg(card / "gps" / "ünïcödé.jpg", quality=92)              # NFC ...
    _camera_jpeg(card / "gps" / "u\u0308ni\u0308co\u0308de\u0301.jpg", quality=93)   # ... and NFD: one name
    order_id, package = run_order(card, client=CLIENT)
    first = tmp_path_factory.mktemp("first") / "delivery"
    shutil.copytree(package, first)
    yield {"order_id": order_id, "package": package, "first": first, "home": home, "card": card,
           "recipes": recipes}
    get_settings.cache_clear()


def _files(delivery: Delivery, rendition: str) -> dict[str, dict]:
    return {e["source_name"]: e for e in delivery.manifest["files"] if e["rendition"] == rendition}


def test_the_package_sits_in_the_archive_by_client_year_and_order(delivered):
    package, home = delivered["package"], delivered["home"]
    with transaction() as session:
        order = work.get_order(session, delivered["order_id"])
    assert package == home / "archive" / "Zoe_Lukasz" / str(order.created_at.year) / f"order-{order.id}" / "delivery"
    assert (package.parent / "originals").is_dir()
    assert {p.name for p in package.iterdir()} == {
        "manifest.json", "contact-sheet.jpg", "contact-sheet.pdf", "client.zip", "social.zip", "print.zip",
        "p3.zip", "proof.zip"}
    assert order.delivery_path == str(package)


def test_clients_named_in_other_scripts_get_folders_of_their_own_and_archived_orders_stay_put(home, tmp_path):
    """Every client whose name is not written in Latin letters had the archive folder `client/`: a Greek studio's
    whole archive in one folder, its orders told apart by number only. Names are spelled in Latin letters now;
    an order archived under the folder name of before stays where it is."""
    from datetime import UTC, datetime

    from surfaces.actions.orders import create_order
    from tasks.files import archive_dir
    from tasks.synthetic import write_card

    clients = ("Ωμέγα Παπαδοπούλου", "Дмитрий Иванов", "Zoë & Łukasz", "Ærø Straße")
    made = {client: create_order(client=client, shoot="portrait", card=write_card(tmp_path / f"card{i}", 1, first_seed=i),
                                 preset_name=None, due=None) for i, client in enumerate(clients)}
    year = str(datetime.now(UTC).year)
    before = home / "archive" / "Zoe_ukasz" / year / f"order-{made['Zoë & Łukasz'].id}" / "originals"
    before.mkdir(parents=True)                            # archived by the version before
    folders = {client: archive_dir(order.id).relative_to(home / "archive").parts[0] for client, order in made.items()}
    assert folders == {"Ωμέγα Παπαδοπούλου": "Omega_Papadopoulou", "Дмитрий Иванов": "Dmitrii_Ivanov",
                       "Zoë & Łukasz": "Zoe_ukasz", "Ærø Straße": "AEro_Strasse"}
    assert archive_dir(made["Zoë & Łukasz"].id) == before


def test_each_rendition_has_the_size_its_recipe_says(delivered):
    delivery = Delivery(delivered["first"])
    full = {name: delivery.image(e) for name, e in _files(delivery, "full").items()}
    assert len(full) == 5
    for name, image in full.items():
        long_edge = max(image.size)
        web = delivery.image(_files(delivery, "web")[name])
        assert max(web.size) == min(800, long_edge) and web.size[0] / web.size[1] == pytest.approx(
            image.size[0] / image.size[1], abs=0.01), name
        assert delivery.image(_files(delivery, "social")[name]).size == (400, 500), name
        assert max(delivery.image(_files(delivery, "p3")[name]).size) == 600, name
        assert max(delivery.image(_files(delivery, "proof")[name]).size) == 600, name
        with tifffile.TiffFile(io.BytesIO(delivery.read(_files(delivery, "print")[name]))) as tiff:
            page = tiff.pages[0]
            assert (page.imagewidth, page.imagelength) == image.size, name
            assert page.dtype == np.uint16 and page.samplesperpixel == 3, name
            assert page.tags["XResolution"].value == (240, 1) and page.tags["ResolutionUnit"].value == 2, name
    nikon = full["DSC 0001 (copy).NEF"]
    assert nikon.size == (2012, 1324)                                  # the camera's own size, as viewed


def _profile(icc: bytes):
    return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile


def test_each_rendition_embeds_the_profile_of_its_colour_space_and_its_pixels_match_it(delivered):
    delivery = Delivery(delivered["first"])
    name = "DSC 0001 (copy).NEF"
    srgb = _profile(delivery.image(_files(delivery, "full")[name]).info["icc_profile"])
    p3 = _profile(delivery.image(_files(delivery, "p3")[name]).info["icc_profile"])
    with tifffile.TiffFile(io.BytesIO(delivery.read(_files(delivery, "print")[name]))) as tiff:
        adobe_icc = bytes(tiff.pages[0].tags["InterColorProfile"].value)
        print16 = tiff.pages[0].asarray()
    adobe = _profile(adobe_icc)
    assert srgb.profile_description == "sRGB built-in"
    assert adobe.profile_description.startswith("Adobe RGB (1998)")
    assert p3.profile_description.startswith("Display P3")
    # the green primaries tell the spaces apart (x, D50-adapted as ICC stores them): sRGB .32, P3 .28, Adobe .23
    assert srgb.green_primary[1][0] == pytest.approx(0.321, abs=0.005)
    assert p3.green_primary[1][0] == pytest.approx(0.285, abs=0.005)
    assert adobe.green_primary[1][0] == pytest.approx(0.230, abs=0.005)
    assert p3.red_primary[1][0] == pytest.approx(0.682, abs=0.005)
    assert srgb.red_primary[1][0] == pytest.approx(0.648, abs=0.005)
    # LittleCMS (not postline) takes each file back to sRGB through its embedded profile: the same colours as the
    # sRGB full size, compared as 60 x 40 block means (resampling and JPEG noise average out; a wrong profile
    # shifts every block: the Adobe RGB numbers read as sRGB differ by more)
    def blocks(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB").resize((60, 40), Image.BOX), np.float32)

    full = blocks(delivery.image(_files(delivery, "full")[name]))
    target = ImageCms.createProfile("sRGB")
    p3_image = delivery.image(_files(delivery, "p3")[name])
    p3_in_srgb = ImageCms.profileToProfile(p3_image, ImageCms.ImageCmsProfile(io.BytesIO(
        p3_image.info["icc_profile"])), target, outputMode="RGB")
    assert np.abs(blocks(p3_in_srgb) - full).mean() < 1.5
    adobe8 = Image.fromarray((print16 / 257).round().astype(np.uint8), "RGB")
    adobe_in_srgb = ImageCms.profileToProfile(adobe8, ImageCms.ImageCmsProfile(io.BytesIO(adobe_icc)), target,
                                              outputMode="RGB")
    managed = np.abs(blocks(adobe_in_srgb) - full).mean()
    misread = np.abs(blocks(adobe8) - full).mean()                       # its numbers read as sRGB's
    assert managed < 1.5 and misread > 2 * managed


def _quantisation(quality: int, subsampling: int) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 200)).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return Image.open(buffer).quantization


def test_each_jpeg_has_its_recipe_quality_and_the_zips_store_them_as_they_are(delivered):
    delivery = Delivery(delivered["first"])
    for rendition, quality in {"full": 92, "web": 85, "social": 80, "p3": 95, "proof": 70}.items():
        for name, entry in _files(delivery, rendition).items():
            image = delivery.image(entry)
            subsampling = JpegImagePlugin.get_sampling(image)
            assert subsampling == (0 if quality >= 95 else 2), (rendition, name)
            assert image.quantization == _quantisation(quality, subsampling), (rendition, name)
    for zip_file in delivered["first"].glob("*.zip"):
        with zipfile.ZipFile(zip_file) as archive:
            for info in archive.infolist():
                expected = zipfile.ZIP_DEFLATED if info.filename == "manifest.json" else zipfile.ZIP_STORED
                assert info.compress_type == expected, (zip_file.name, info.filename)


def _latin1(text: str) -> str:
    """Pillow reads EXIF ASCII fields as latin-1; their bytes are UTF-8 (as exiftool and Lightroom write them)."""
    return text.encode("latin-1").decode("utf-8")


def test_metadata_carries_the_studio_the_client_and_the_capture_and_no_gps_or_serial(delivered):
    delivery = Delivery(delivered["first"])
    originals = {"DSC 0001 (copy).NEF": "2000:11:19 13:01:50", "sub/IMG_0119.CRW": "2021:03:26 21:18:06",
                 "IMG:0119.jpg": "2002:11:24 15:11:22"}
    for rendition in ("full", "web", "social", "print", "p3", "proof"):
        for name, entry in _files(delivery, rendition).items():
            data = delivery.read(entry)
            with pyexiv2.ImageData(data) as image:
                exif, iptc, xmp = image.read_exif(), image.read_iptc(), image.read_xmp()
            where = (rendition, name)
            year = exif["Exif.Photo.DateTimeOriginal"][:4]
            assert exif["Exif.Image.Artist"] == ARTIST and xmp["Xmp.dc.creator"] == [ARTIST], where
            assert exif["Exif.Image.Copyright"] == f"© {year} Studio Ñ, all rights reserved", where
            assert xmp["Xmp.dc.rights"] == {'lang="x-default"': exif["Exif.Image.Copyright"]}, where
            assert iptc["Iptc.Application2.Copyright"] == exif["Exif.Image.Copyright"], where
            assert iptc["Iptc.Application2.Byline"] == [ARTIST.encode()[:32].decode("utf-8", "ignore")], where
            assert len(iptc["Iptc.Application2.Byline"][0].encode()) <= 32 and iptc["Iptc.Envelope.CharacterSet"] == "\x1b%G"
            assert "hello@studio-n.example" in iptc["Iptc.Application2.Contact"][0], where
            assert xmp["Xmp.iptc.CreatorContactInfo/Iptc4xmpCore:CiEmailWork"] == "hello@studio-n.example", where
            assert xmp["Xmp.iptc.CreatorContactInfo/Iptc4xmpCore:CiTelWork"] == "+34 600 000 000", where
            assert "hello@studio-n.example" in exif["Exif.Photo.UserComment"], where
            assert exif["Exif.Image.ImageDescription"] == CLIENT == iptc["Iptc.Application2.Caption"], where
            assert xmp["Xmp.plus.Licensee[1]/plus:LicenseeName"] == CLIENT, where
            if name in originals:
                assert exif["Exif.Photo.DateTimeOriginal"] == originals[name], where
            assert not [k for k in exif if "GPS" in k or "Serial" in k], where
            assert not [k for k in xmp if "GPS" in k or "Serial" in k], where
            assert not [k for k in exif if k.startswith(("Exif.Canon", "Exif.Nikon", "Exif.MakerNote"))], where
            if rendition != "print":                   # Pillow reads the same back from the JPEGs
                pil = Image.open(io.BytesIO(data)).getexif()
                assert _latin1(pil[0x013B]) == ARTIST and _latin1(pil[0x010E]) == CLIENT, where
                assert pil.get_ifd(0x8769)[0x9003] == exif["Exif.Photo.DateTimeOriginal"], where
                assert pil.get_ifd(0x8825) == {} and 0x8825 not in pil, where
    nikon = _files(delivery, "full")["DSC 0001 (copy).NEF"]
    with pyexiv2.ImageData(delivery.read(nikon)) as image:
        exif = image.read_exif()
    assert (exif["Exif.Image.Make"], exif["Exif.Image.Model"].strip()) == ("NIKON CORPORATION", "NIKON D1")
    assert exif["Exif.Photo.FNumber"] == "76/10" and exif["Exif.Photo.FocalLength"] == "200/10"
    lens = _files(delivery, "full")["IMG:0119.jpg"]
    with pyexiv2.ImageData(delivery.read(lens)) as image:
        assert image.read_exif()["Exif.Photo.LensModel"] == "EF50mm f/1.8 II"


def test_the_manifest_says_where_each_file_came_from_and_who_worked_it(delivered):
    delivery = Delivery(delivered["first"])
    manifest = delivery.manifest
    assert manifest["recipe"]["name"] == "portrait" and len(manifest["recipe"]["sha256"]) == 64
    assert len(manifest["files"]) == 5 * 6 and manifest["not_delivered"] == []
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, delivered["order_id"])}
    for entry in manifest["files"]:
        photo = photos[entry["source_name"]]
        assert entry["source_sha256"] == photo.sha256 and entry["photo_id"] == photo.id
        assert entry["preset"] == {"name": "classic-portrait", "version": manifest["preset"]["version"]}
        stages = [(w["stage"], w["round"], w["by"]) for w in entry["worked"]]
        assert stages[:4] == [("cull_grade", 1, "postline-auto"), ("liquify_skin", 1, "postline-auto"),
                              ("fine_retouch", 1, "postline-auto"), ("design_layout", 1, "postline-auto")]
        assert stages[4:] == [("qc_gate", 1, "postline-auto")]           # the gate's pass once, not twice
    seqs = sorted({e["seq"] for e in manifest["files"]})
    assert seqs == [1, 2, 3, 4, 5]
    assert all(p.status is PhotoStatus.DELIVERED for p in photos.values())


def test_hostile_and_colliding_names_stay_in_their_folder_and_overwrite_nothing(delivered, tmp_path):
    delivery = Delivery(delivered["first"])
    names = [e["path"] for e in delivery.manifest["files"]]
    assert len({n.casefold() for n in names}) == len(names)
    for path in names:
        parts = path.split("/")
        assert len(parts) == 2 and parts[0] in {"full", "web", "social", "print", "p3", "proof"}, path
        assert parts[1] not in ("", ".", "..") and not parts[1].startswith("."), path
    full = sorted(Path(e["path"]).name for e in _files(delivery, "full").values())
    assert full == sorted(["DSC_0001_(copy).jpg", "IMG_0119.jpg", "IMG_0119-2.jpg", "ünïcödé.jpg", "ünïcödé-2.jpg"])
    social = sorted(Path(e["path"]).name for e in _files(delivery, "social").values())
    assert social == ["Zoë_&_Łukasz-2.jpg", "Zoë_&_Łukasz-3.jpg", "Zoë_&_Łukasz-4.jpg", "Zoë_&_Łukasz-5.jpg",
                      "Zoë_&_Łukasz.jpg"]
    assert all(Path(e["path"]).name.startswith("etc_") for e in _files(delivery, "proof").values())
    out = tmp_path / "unzipped"
    for zip_file in delivered["first"].glob("*.zip"):
        with zipfile.ZipFile(zip_file) as archive:
            archive.extractall(out / zip_file.stem)
            assert len(archive.namelist()) == len(set(archive.namelist()))
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == len(names) + 5                 # and each ZIP's manifest.json: nothing overwritten
    assert all(p.resolve().is_relative_to(out) for p in written)


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(args))
    return code, out.getvalue()


def test_verify_of_the_orders_archive_folder_checks_the_originals_kept_for_years(delivered, tmp_path):
    """The README promised `postline verify` checks the originals' SHA-256s; it checked the package only: an
    archived original changed or gone was 'OK'."""
    kept = tmp_path / "order"
    shutil.copytree(delivered["package"].parent, kept)
    code, out = _cli("verify", str(kept))
    originals = sorted((kept / "originals").iterdir())
    assert code == 0 and f"OK  {kept}: {len(originals)} originals as archived, 1 package(s)" in out, out

    named = {e["source_sha256"]: e["source_name"]
             for e in json.loads((kept / "delivery" / "manifest.json").read_text())["files"]}
    changed = originals[0]
    gone, gone_name = next((p, name) for p in originals[1:] for sha, name in named.items()
                           if p.name.startswith(sha[:16]))
    changed.chmod(0o644)                                        # archived read-only
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    gone.unlink()
    code, out = _cli("verify", str(kept))
    assert code == 1, out
    assert f"originals/{changed.name}: content differs from the original archived" in out
    assert f"originals: {gone_name}: missing (its delivery's manifest names it" in out
    assert "difference(s) from what was archived and delivered" in out


def test_verify_passes_a_fresh_package_and_names_the_file_one_changed_byte_is_in(delivered, tmp_path):
    first = delivered["first"]
    code, out = _cli("verify", str(first))
    assert code == 0 and "OK" in out and "match the manifest" in out, out
    code, out = _cli("verify", str(first / "client.zip"))
    assert code == 0, out
    made = Download.of_package(first)                           # the whole package in one ZIP: the client's download
    assert made.name == "delivery.zip" and not (first.parent / "delivery.zip").exists()    # made as it is served
    download = tmp_path / "downloaded.zip"
    made.write_to(download)
    code, out = _cli("verify", str(download))
    assert code == 0, out
    manifest = json.loads((first / "manifest.json").read_text())
    with zipfile.ZipFile(download) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == ({e["path"] for e in manifest["files"]} | {"manifest.json"}
                                           | {e["path"] for e in manifest["sheets"]})
        assert archive.read("manifest.json") == (first / "manifest.json").read_bytes()
        for entry in manifest["files"]:
            with zipfile.ZipFile(first / entry["zip"]) as its_set:
                assert archive.read(entry["path"]) == its_set.read(entry["path"])
    if shutil.which("unzip"):                                   # Info-ZIP reads it too
        tested = subprocess.run(["unzip", "-tq", str(download)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr

    copy = tmp_path / "delivery"
    shutil.copytree(first, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["rendition"] == "web")
    with zipfile.ZipFile(copy / "client.zip") as archive:
        info = archive.getinfo(entry["path"])
    data = bytearray((copy / "client.zip").read_bytes())
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    data[at] ^= 0x01                                            # one bit of one byte in the middle of one photo
    (copy / "client.zip").write_bytes(bytes(data))

    code, out = _cli("verify", str(copy))
    assert code == 1
    assert f"client.zip:{entry['path']}" in out
    assert "client.zip: content differs from the manifest" in out
    assert sum(1 for line in out.splitlines() if line.startswith("DIFFERS")) == 2, out
    code, out = _cli("verify", str(copy / "client.zip"))
    assert code == 1 and f"client.zip:{entry['path']}" in out

    sheet = bytearray((copy / "contact-sheet.pdf").read_bytes())
    sheet[len(sheet) // 2] ^= 0xFF
    (copy / "contact-sheet.pdf").write_bytes(bytes(sheet))
    (copy / "notes.txt").write_text("added later")
    code, out = _cli("verify", str(copy))
    assert code == 1 and "contact-sheet.pdf: content differs" in out and "notes.txt: in the package but not" in out


def test_the_contact_sheet_shows_every_photo_as_jpeg_and_pdf(delivered):
    first = delivered["first"]
    sheet = Image.open(first / "contact-sheet.jpg")
    assert sheet.size == (1754, 1240) and sheet.info["dpi"] == (150, 150)     # A4 landscape at 150 dpi
    pdf = (first / "contact-sheet.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1
    pixels = np.asarray(sheet.convert("L"), np.float32)
    cells = [pixels[110:330, 69 + i * 327: 59 + (i + 1) * 327 - 20] for i in range(5)]   # the first row's cells
    assert all(cell.std() > 10 for cell in cells)            # five photos, not blank cells
    assert pixels[700:1100].std() < 1                       # and nothing below them


def test_archive_list_shows_the_order_by_client_and_expire_removes_only_what_is_past_retention(delivered, monkeypatch):
    from datetime import date, timedelta

    from config.settings import get_settings
    from tasks.archive import expire, listing

    code, out = _cli("archive", "list", "--client", "łukasz")
    assert code == 0 and "Zoë & Łukasz" in out and "Zoe_Lukasz" in out, out
    code, out = _cli("archive", "list", "--client", "nobody-like-this")
    assert code == 0 and "No orders" in out
    (archived,) = listing("ŁUKASZ")
    assert archived.last_delivered == date.today() and archived.bytes_held > 0
    assert archived.keep_until == date.today().replace(year=date.today().year + 7)
    monkeypatch.setenv("POSTLINE_RETENTION_YEARS", "1")
    get_settings.cache_clear()
    assert expire(apply=True, today=date.today() + timedelta(days=364)) == []
    assert delivered["package"].is_dir()
    code, out = _cli("archive", "expire")
    assert code == 0 and "Nothing in the archive is past its retention" in out


def test_deliver_again_with_a_recipe_that_keeps_gps_and_serials(delivered, tmp_path):
    from sqlalchemy import update

    from record.models import Order

    keep = tmp_path / "keep.toml"
    keep.write_text(KEEP)
    order_id = delivered["order_id"]
    legacy = delivered["home"] / "delivery" / f"order-{order_id}-Zoe_Lukasz.zip"     # where postline used to deliver
    legacy.parent.mkdir()
    legacy.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    with transaction() as session:
        session.execute(update(Order).where(Order.id == order_id).values(delivery_path=str(legacy)))
    code, out = _cli("deliver", str(order_id), "--recipe", str(keep))
    assert code == 0, out
    package = Path(out.strip().splitlines()[-1])
    assert package == delivered["package"] and {p.name for p in package.iterdir()} == {
        "manifest.json", "contact-sheet.jpg", "contact-sheet.pdf", "full.zip"}
    with transaction() as session:
        order = work.get_order(session, order_id)
    assert order.delivery_path == str(package) and order.status.value == "delivered"
    delivery = Delivery(package)
    assert delivery.mismatches() == [] and delivery.manifest["recipe"]["name"] == "keep"
    with_gps = _files(delivery, "full")
    for name in ("IMG:0119.jpg", "gps/ünïcödé.jpg"):
        with pyexiv2.ImageData(delivery.read(with_gps[name])) as image:
            exif, xmp = image.read_exif(), image.read_xmp()
        assert {k: exif[k] for k in GPS} == GPS, name
        assert exif["Exif.Photo.BodySerialNumber"] == "171048961" and exif["Exif.Photo.LensSerialNumber"] == "0000c1234"
        assert xmp["Xmp.aux.SerialNumber"] == "171048961" and "Xmp.exif.GPSLatitude" in xmp
        assert "Exif.Image.ImageDescription" not in exif and "Xmp.plus.Licensee[1]/plus:LicenseeName" not in xmp
        pil = Image.open(io.BytesIO(delivery.read(with_gps[name]))).getexif().get_ifd(0x8825)
        assert pil[2] == (41.0, 23.0, 19.53) and pil[1] == "N"            # GPSLatitude, as Pillow reads it
    with pyexiv2.ImageData(delivery.read(with_gps["sub/IMG_0119.CRW"])) as image:
        canon = image.read_exif()
    assert canon["Exif.Photo.BodySerialNumber"] == "1135765812 805306367"   # from the Canon maker note
    assert not [k for k in canon if "GPS" in k]                              # it had none
    code, out = _cli("deliver", "999")
    assert code == 2 and "no order 999" in out


def test_deliver_refuses_an_order_not_delivered_yet_and_says_what_to_run(home, tmp_path):
    from surfaces.actions.orders import create_order

    card = tmp_path / "card"
    card.mkdir()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(card / "IMG_0001.jpg")
    order = create_order(client="Not Yet", shoot="portrait", card=card, preset_name=None, due=None)
    code, out = _cli("deliver", str(order.id))
    assert code == 2 and f"order {order.id} is created, not delivered: `postline order run {order.id}`" in out
    code, out = _cli("verify", str(tmp_path / "nowhere"))     # a mistyped path: a usage error, not a difference
    assert code == 2 and "nowhere: no such file or folder; give a delivery package folder or one of its ZIPs" in out
    assert "difference" not in out
    code, out = _cli("verify", str(card))                     # the card, not the package: a usage error too
    assert code == 2 and "holds no manifest.json: it is not a delivery package; give the package folder" in out
    assert "difference" not in out and "DIFFERS" not in out


def test_deliver_after_the_working_files_went_takes_the_package_files_and_makes_the_rest_again(delivered):
    """Working files go once the revision window has passed (and the finished files of automatic photos at
    delivery): `postline deliver` then takes each delivered file from the package, makes again from the
    originals only what it needs (the contact sheet's thumbnails), and the package's files come out the same."""
    package = delivered["package"]
    before = Delivery(package).manifest
    shutil.rmtree(delivered["home"] / "work")
    code, out = _cli("deliver", str(delivered["order_id"]))
    assert code == 0, out
    after = Delivery(package)
    assert after.mismatches() == [] and _cli("verify", str(package))[0] == 0
    assert [(e["path"], e["sha256"]) for e in after.manifest["files"]] == \
        [(e["path"], e["sha256"]) for e in before["files"]]
    assert not list((delivered["home"] / "work").rglob("*.tif")), "finished files made again were not removed"


def test_a_signed_link_downloads_the_package_whole_and_by_ranges_and_refuses_a_changed_expired_or_wrong_pin_link(
        delivered, monkeypatch, tmp_path):
    """Over real HTTP on localhost (`postline web` on uvicorn): the client gallery's signed download link
    (record/links.py, made by `postline download-link`) serves this order's package as one ZIP, whole and by
    ranges, with the bytes on disk; changed by one character, after its expiry, or with a wrong PIN it is refused
    and serves no byte of it."""
    import time

    import httpx

    from surfaces.web import create_app
    from tasks.verify import verify
    from tests.browser import served
    from tests.test_links import PIN, changed, link_for

    monkeypatch.delenv("POSTLINE_WEB_SECRET", raising=False)
    data = b"".join(Download.of_package(delivered["package"]).read())     # what the link serves, made as served
    with served(create_app()) as base:
        _, url = link_for(delivered["order_id"], base, monkeypatch, "--days", "2", "--pin", PIN)
        client = httpx.Client(timeout=60)
        assert client.get(url).status_code == 401                             # the PIN first
        wrong = client.post(url, data={"pin": "0000"}, follow_redirects=False)
        assert wrong.status_code == 403 and data[:200] not in wrong.content
        assert client.get(url).status_code == 401
        assert client.post(url, data={"pin": PIN}, follow_redirects=False).status_code == 303

        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        (tmp_path / "download.zip").write_bytes(whole.content)
        assert verify(tmp_path / "download.zip") == []                        # the package, whole, as its manifest
        part = client.get(url, headers={"Range": "bytes=100-65635"})
        assert part.status_code == 206 and part.content == data[100:65636]
        half = len(data) // 2                                                 # a download cut off half way resumes
        rest = client.get(url, headers={"Range": f"bytes={half}-", "If-Range": whole.headers["etag"]})
        assert rest.status_code == 206 and data[:half] + rest.content == data

        tampered = client.get(changed(url))
        assert tampered.status_code == 404 and data[:200] not in tampered.content

    token = url.rsplit("/", 1)[1]
    two_days_on = time.time() + 2 * 86400 + 60
    with served(create_app(clock=lambda: two_days_on)) as later:
        expired = httpx.get(f"{later}/d/{token}", timeout=30)
        assert expired.status_code == 410 and "expired" in expired.text and data[:200] not in expired.content
