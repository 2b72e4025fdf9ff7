"""tasks.pixels.metadata against real camera files (read in place from ../shared/samples/raw beside
the repo; only the corrupted/truncated variants are written, into tmp_path)."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
import rawpy
from PIL import Image

from tasks.errors import PhotoError
from tasks.pixels.metadata import (
    JPEG_EXTENSIONS, RAW_EXTENSIONS, SIDECAR_EXTENSIONS, TIFF_EXTENSIONS, PhotoKind, UnreadablePhoto,
    kind_of, read_metadata,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "raw"  # ../shared beside the clone
RAWS = sorted(p for p in SAMPLES.glob("*.*") if p.suffix != ".md") if SAMPLES.is_dir() else []
needs_samples = pytest.mark.skipif(not RAWS, reason="camera samples not available")


@pytest.fixture
def local_zone(monkeypatch):
    """Switch the process time zone (LibRaw and datetime both follow it); restored afterwards."""
    def switch(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield switch
    monkeypatch.undo()
    time.tzset()


# ------------------------------------------------------------------ kind_of

@pytest.mark.parametrize("name, kind", [
    ("IMG 01 (copy).CR2", PhotoKind.RAW),
    ("café.nef", PhotoKind.RAW),
    ("/card/DCIM/100CANON/CRW_0119.CRW", PhotoKind.RAW),
    ("x.JPEG", PhotoKind.JPEG),
    ("scan.final.Tif", PhotoKind.TIFF),
    ("notes.txt", None),
    ("IMG_0001.CR2.xmp", None),   # sidecar next to the photo
    ("CRW_0119.THM", None),
    ("._IMG_0001.CR2", None),     # macOS AppleDouble junk from a card read on a Mac
    ("nef", None),
    ("", None),
])
def test_kind_of_odd_names(name, kind):
    assert kind_of(name) is kind
    assert kind_of(Path(name)) is kind


def test_extension_sets_are_lowercase_dotted_and_disjoint():
    sets = [RAW_EXTENSIONS, JPEG_EXTENSIONS, TIFF_EXTENSIONS, SIDECAR_EXTENSIONS]
    for exts in sets:
        assert all(e.startswith(".") and e == e.lower() for e in exts)
    assert sum(map(len, sets)) == len(frozenset().union(*sets))
    assert {".crw", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".dng", ".kdc"} <= RAW_EXTENSIONS
    assert {".xmp", ".thm", ".pp3", ".dop"} <= SIDECAR_EXTENSIONS


def test_a_cards_own_files_are_not_taken_as_photos(tmp_path):
    """A card's MISC/AUTPRINT.MRK (the camera's print order) was refused as a photo "to convert", counted a failure."""
    from tasks.ingest import scan_card

    for name in ("DCIM/100CANON/IMG_0001.CR2", "MISC/AUTPRINT.MRK", "DCIM/100CANON/IMG_0001.THM", ".Spotlight-V100/x"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert scan_card(tmp_path) == ["DCIM/100CANON/IMG_0001.CR2"]


# ------------------------------------------------------------------ real RAW files

@needs_samples
@pytest.mark.parametrize("name, make, model, size", [
    ("nikon_d1.nef", "NIKON CORPORATION", "NIKON D1", (2012, 1324)),
    ("canon_powershot_s40.crw", "Canon", "Canon PowerShot S40", (2312, 1720)),
    ("canon_powershot_g2.crw", "Canon", "Canon PowerShot G2", (2312, 1720)),
    ("canon_eos_d30.crw", "Canon", "Canon EOS D30", (2176, 1448)),
    ("kodak_dc120.kdc", "Eastman Kodak Company", "Kodak DC120 ZOOM Digital Camera", (1301, 976)),
    ("kodak_dc50.kdc", "Eastman Kodak Company", "Kodak Digital Science DC50 Zoom Camera", (768, 512)),
])
def test_raw_camera_and_viewed_size(name, make, model, size):
    meta = read_metadata(SAMPLES / name)
    assert meta.kind is PhotoKind.RAW
    assert (meta.camera_make, meta.camera_model) == (make, model)
    assert (meta.width, meta.height) == size
    assert meta.orientation == 1


@needs_samples
def test_kodak_dc120_size_is_what_postprocess_really_outputs():
    # non-square pixels: 848 sensor columns are stretched to 1301 by LibRaw
    with rawpy.imread(str(SAMPLES / "kodak_dc120.kdc")) as raw:
        rgb = raw.postprocess(half_size=False)
    meta = read_metadata(SAMPLES / "kodak_dc120.kdc")
    assert rgb.shape[:2] == (meta.height, meta.width) == (976, 1301)


@needs_samples
@pytest.mark.parametrize("path", RAWS, ids=lambda p: p.name)
def test_raw_exposure_matches_libraw(path, local_zone):
    local_zone("UTC")  # rawpy turns CRW's clock into local time; in UTC it is the camera's clock
    meta = read_metadata(path)
    with rawpy.imread(str(path)) as raw:
        other = raw.other
    assert meta.iso == other.iso_speed
    assert meta.capture_time == other.timestamp
    assert meta.exposure_time == pytest.approx(other.shutter_speed)
    assert meta.f_number == pytest.approx(other.aperture)
    assert meta.focal_length == pytest.approx(other.focal_length)


@needs_samples
def test_nikon_d1_values_a_photographer_would_recognise():
    meta = read_metadata(SAMPLES / "nikon_d1.nef")
    assert meta.iso == 200
    assert meta.capture_time == datetime(2000, 11, 19, 13, 1, 50)
    assert meta.exposure_time == pytest.approx(1 / 250)
    assert meta.f_number == pytest.approx(7.6)
    assert meta.focal_length == 20
    assert meta.lens is None  # the D1 NEF carries no lens name LibRaw reports


@needs_samples
@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_capture_time_is_the_camera_clock_whatever_the_studio_zone(zone, local_zone):
    local_zone(zone)
    assert read_metadata(SAMPLES / "canon_powershot_s40.crw").capture_time == datetime(2021, 3, 26, 21, 18, 6)
    assert read_metadata(SAMPLES / "canon_eos_d30.crw").capture_time == datetime(2002, 11, 24, 15, 11, 22)
    assert read_metadata(SAMPLES / "nikon_d1.nef").capture_time == datetime(2000, 11, 19, 13, 1, 50)
    assert read_metadata(SAMPLES / "kodak_dc120.kdc").capture_time == datetime(1994, 1, 2, 15, 52, 32)


@needs_samples
def test_odd_file_name_is_read(tmp_path):
    link = tmp_path / "IMG 01 (copy) café.CRW"
    link.symlink_to(SAMPLES / "canon_powershot_s40.crw")  # a link, not a copy
    assert read_metadata(link).camera_model == "Canon PowerShot S40"


# ------------------------------------------------------------------ JPEG / TIFF via Pillow

def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "FUJIFILM", "X-T4"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:07:14 18:30:05"
    sub[0x8827] = 800
    sub[0x829A] = 1 / 125
    sub[0x829D] = 5.6
    sub[0x920A] = 35.0
    sub[0xA434] = "XF35mmF1.4 R"
    return exif


def test_jpeg_orientation_6_swaps_width_and_height(tmp_path):
    path = tmp_path / "DSCF0001.JPG"
    Image.new("RGB", (600, 400), (120, 80, 40)).save(path, exif=_exif(6))
    meta = read_metadata(path)
    assert meta.kind is PhotoKind.JPEG
    assert (meta.width, meta.height, meta.orientation) == (400, 600, 6)
    assert (meta.camera_make, meta.camera_model, meta.lens) == ("FUJIFILM", "X-T4", "XF35mmF1.4 R")
    assert meta.capture_time == datetime(2023, 7, 14, 18, 30, 5)
    assert meta.iso == 800
    assert meta.exposure_time == pytest.approx(1 / 125)
    assert meta.f_number == pytest.approx(5.6)
    assert meta.focal_length == pytest.approx(35.0)


def test_jpeg_without_exif_has_defaults(tmp_path):
    path = tmp_path / "plain.jpeg"
    Image.new("RGB", (64, 48)).save(path)
    meta = read_metadata(path)
    assert (meta.width, meta.height, meta.orientation) == (64, 48, 1)
    assert meta.camera_make is meta.capture_time is meta.iso is None


def test_tiff_make_model_and_orientation(tmp_path):
    path = tmp_path / "scan.tif"
    Image.new("RGB", (300, 200)).save(path, exif=_exif(8))
    meta = read_metadata(path)
    assert meta.kind is PhotoKind.TIFF
    assert (meta.width, meta.height, meta.orientation) == (200, 300, 8)
    assert (meta.camera_make, meta.camera_model) == ("FUJIFILM", "X-T4")


# ------------------------------------------------------------------ files that must be refused

def _refused(path: Path) -> str:
    with pytest.raises(UnreadablePhoto) as info:
        read_metadata(path)
    message = str(info.value)
    assert message.startswith(path.name + ": ")
    assert isinstance(info.value, PhotoError)  # permanent: the order goes on without it
    return message


def test_zero_byte_raw(tmp_path):
    path = tmp_path / "IMG_0003.CR2"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _refused(path)


def test_text_file_renamed_as_crw(tmp_path):
    path = tmp_path / "CRW_0007.CRW"
    path.write_text("Shopping list:\n- milk\n- SD cards\n")  # LibRaw itself only says "I/O error"
    message = _refused(path)
    assert "not a RAW file: its content is text" in message
    assert "Check that the right file was delivered" in message


def test_jpeg_renamed_as_nef(tmp_path):
    path = tmp_path / "DSC_0042.NEF"
    Image.new("RGB", (32, 32)).save(path, format="JPEG")
    assert "its content is a JPEG image" in _refused(path)


def _truncated(tmp_path: Path, sample: str, keep: float | int, name: str) -> Path:
    data = (SAMPLES / sample).read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else len(data) - keep
    path = tmp_path / name
    path.write_bytes(data[:n])
    return path


@needs_samples
@pytest.mark.parametrize("sample, keep, name", [
    ("nikon_d1.nef", 0.5, "DSC_0001.NEF"),            # we see strips past the end of the file
    ("nikon_d1.nef", 100, "DSC_0002.NEF"),            # 100 bytes short: LibRaw alone would pad with white
    ("canon_powershot_s40.crw", 0.5, "CRW_0119.CRW"),  # CIFF directory lives at the end: LibRaw "unsupported"
    ("canon_eos_d30.crw", 0.99, "CRW_0042.CRW"),
    ("kodak_dc120.kdc", 0.5, "P003908.KDC"),           # LibRaw: I/O error while unpacking
    ("kodak_dc50.kdc", 0.9, "DC0012L.KDC"),
])
def test_truncated_raw_is_refused(tmp_path, sample, keep, name):
    message = _refused(_truncated(tmp_path, sample, keep, name))
    assert "truncated" in message
    assert "Re-copy it from the card" in message


@needs_samples
def test_truncated_nef_names_where_it_ends(tmp_path):
    path = _truncated(tmp_path, "nikon_d1.nef", 100, "DSC_0002.NEF")
    assert "ends at byte 4,055,374 but its image data runs to byte 4,055,474" in _refused(path)


def test_truncated_jpeg_is_refused(tmp_path):
    full = tmp_path / "full.jpg"
    Image.effect_noise((800, 600), 64).convert("RGB").save(full, quality=95)
    path = tmp_path / "IMG_0100.JPG"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert "truncated or corrupted" in _refused(path)


def test_png_named_jpg_is_refused(tmp_path):
    path = tmp_path / "export.jpg"
    Image.new("RGB", (8, 8)).save(path, format="PNG")
    assert "content is PNG" in _refused(path)


def test_missing_file_and_non_photo(tmp_path):
    assert "cannot be opened" in _refused(tmp_path / "gone.nef")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert "not a photo type" in _refused(notes)
