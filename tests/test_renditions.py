"""The pixels and names of delivery, on their own: crops where their anchor says (a real portrait's face),
the watermark and output sharpening there only when asked, and file names that cannot make a path."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from presets.recipe import Anchor, Rendition, Watermark
from tasks.package import NameBook, clean_name
from tasks.pixels import renditions


@pytest.fixture(scope="module")
def portrait_on_the_right() -> np.ndarray:
    """A real portrait (skimage's astronaut, 512 px) at the right of a wide dark frame: 1536 x 512."""
    frame = np.full((512, 1536, 3), 0.1, np.float32)
    frame[:, 1024:] = data.astronaut().astype(np.float32) / 255.0
    return frame


def _decode(made: renditions.Made) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(made.data)).convert("RGB"), np.float32) / 255.0


def test_a_square_crop_anchored_on_faces_holds_the_face_and_one_in_the_centre_does_not(portrait_on_the_right):
    from tasks.pixels import faces as face_finder

    on_faces, centre = renditions.make_all(portrait_on_the_right, [
        Rendition(key="faces", aspect="1:1", anchor="faces", quality=95),
        Rendition(key="centre", aspect="1:1", anchor="centre", quality=95)])
    assert on_faces.size == centre.size == (512, 512)
    (face,) = face_finder.detect(portrait_on_the_right)
    got = _decode(on_faces)
    def off(x0: int) -> float:
        return float(np.abs(got - portrait_on_the_right[:, x0:x0 + 512]).mean())

    coarse = min(range(0, 1025, 8), key=off)                            # where in the frame the crop was taken
    shifts = {x0: off(x0) for x0 in range(max(0, coarse - 8), min(1024, coarse + 8) + 1)}
    x0 = min(shifts, key=shifts.get)
    assert shifts[x0] < 0.02
    assert x0 <= face.x and face.x + face.w <= x0 + 512                 # the whole face is in it
    assert abs((x0 + 256) - face.centre[0]) < 20                        # centred on it
    assert np.abs(_decode(centre) - 0.1).mean() < 0.02                  # the dark middle of the frame: no face


@pytest.mark.parametrize("anchor, x0", [(Anchor.LEFT, 0), (Anchor.CENTRE, 512), (Anchor.RIGHT, 1024)])
def test_crop_anchors_on_an_edge(anchor, x0):
    assert renditions.crop_box(1536, 512, 1.0, anchor) == (x0, 0, x0 + 512, 512)
    assert renditions.crop_box(512, 1536, 0.8, Anchor.TOP) == (0, 0, 512, 640)
    assert renditions.crop_box(512, 1536, 0.8, Anchor.BOTTOM) == (0, 896, 512, 1536)


def test_the_watermark_and_the_sharpening_are_there_only_when_the_recipe_asks(portrait_on_the_right):
    clean, marked, sharp = renditions.make_all(portrait_on_the_right, [
        Rendition(key="clean", quality=95),
        Rendition(key="proof", quality=95, watermark=Watermark(text="PROOF {studio}", opacity=0.6, size=0.15)),
        Rendition(key="sharp", quality=95, sharpen=150, sharpen_radius=1.0)], fields={"studio": "Studio"})
    clean, marked, sharp = _decode(clean), _decode(marked), _decode(sharp)
    middle = np.s_[200:312, 300:1236]
    changed = np.abs(marked - clean).max(axis=2) > 0.1
    assert changed[middle].mean() > 0.05 and changed.sum() == changed[middle].sum()   # text, in the middle only
    assert marked[middle][changed[middle]].mean() > clean[middle][changed[middle]].mean() + 0.2   # lighter

    def detail(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())

    assert detail(sharp) > 1.3 * detail(clean)


@pytest.mark.parametrize("text, expected", [
    ("../../etc/passwd", "etc_passwd"),
    ("/abs/path/name", "abs_path_name"),
    ("..", "photo"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("Zoë & Ana\u202egpj.exe", "Zoë_&_Ana_gpj.exe"),            # a bidi override, made harmless
    ("a\nb\tc\x1bd", "a_b_c_d"),
    ("u\u0308ber", "über"),                                     # NFD and NFC: one name
    ("C:\\Users\\x", "C_Users_x"),
    (".hidden", "hidden"),
])
def test_a_file_name_from_a_template_cannot_make_a_path(text, expected):
    assert clean_name(text) == expected


def test_a_long_name_is_cut_on_a_character_and_colliding_names_never_overwrite():
    long = clean_name("ж" * 200)
    assert len(long.encode()) <= 120 and long == "ж" * 60
    book = NameBook()
    names = [book.claim("full", stem, ".jpg") for stem in ("IMG_1", "img_1", "IMG:1", "IMG/1", "IMG_1-2", "IMG_1")]
    assert names == ["full/IMG_1.jpg", "full/img_1-2.jpg", "full/IMG_1-3.jpg", "full/IMG_1-4.jpg",
                     "full/IMG_1-2-2.jpg", "full/IMG_1-5.jpg"]
    assert len({n.casefold() for n in names}) == len(names)


def test_a_contact_sheet_of_45_photos_is_three_pages_of_jpeg_and_one_pdf(home, tmp_path):
    import re

    from presets.recipe import load_recipe
    from tasks.deliver_sheets import contact_sheets

    paths = []
    for i in range(45):
        paths.append(tmp_path / f"{i}.jpg")
        Image.new("RGB", (360, 240), (i * 5, 100, 200 - i * 4)).save(paths[-1])
    out = contact_sheets(1, paths, [f"{i + 1:04d}  Zoë-{i + 1:04d}.jpg" for i in range(45)], "Studio · Zoë · order 1",
                         load_recipe("wedding"))
    assert sorted(out) == ["contact-sheet-01.jpg", "contact-sheet-02.jpg", "contact-sheet-03.jpg", "contact-sheet.pdf"]
    for name in ("contact-sheet-01.jpg", "contact-sheet-03.jpg"):
        assert Image.open(io.BytesIO(out[name])).size == (1754, 1240)
    last = np.asarray(Image.open(io.BytesIO(out["contact-sheet-03.jpg"])).convert("L"), np.float32)
    assert last[110:330, 69:376].std() > 10 and last[380:600, 69:376].std() < 2    # 5 photos on it: one row
    pdf = out["contact-sheet.pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and re.findall(rb"/Count (\d+)", pdf)[-1] == b"3"   # the last page tree: 3 pages


@pytest.fixture(scope="module")
def camera_photo() -> np.ndarray:
    """A real camera file (Canon PowerShot G2), developed at half size: display values, float32 in [0, 1]."""
    import rawpy

    from tests.conftest import sample

    with rawpy.imread(str(sample("canon_powershot_g2.crw"))) as raw:
        return raw.postprocess(half_size=True, output_bps=16).astype(np.float32) / 65535.0


@pytest.mark.parametrize("compression, tag", [("none", 1), ("lzw", 5), ("deflate", 8)])
@pytest.mark.parametrize("bits", [8, 16])
def test_a_print_tiff_keeps_every_value_compressed_or_not_and_keeps_its_metadata(compression, tag, bits,
                                                                                 camera_photo):
    """A print TIFF of a real camera file, as each compression writes it: the same pixel values read back by
    tifffile (and Pillow at 8 bits), the Compression tag says which, both about half the size at 8 bits (16 bits:
    Deflate a fifth smaller, LZW no smaller), and the studio's metadata stamped into it survives the compression (pyexiv2 reads it back)."""
    import pyexiv2
    import tifffile

    from presets.model import OutputSpace
    from tasks.pixels import tags

    display = camera_photo
    rendition = Rendition(key="print", format="tiff", bit_depth=bits, tiff_compression=compression,
                          colour_space="srgb")
    (made,) = renditions.make_all(display, [rendition])
    plain = renditions.encode(display, Rendition(key="print", format="tiff", bit_depth=bits), OutputSpace.SRGB)
    data = tags.stamp(made.data, tags.Kept(), tags.Credit(artist="A. Photographer", copyright="© 2026 Studio",
                                                          studio="Studio", email="", phone="", website="",
                                                          client=None, dpi=300))
    with tifffile.TiffFile(io.BytesIO(data)) as tiff, tifffile.TiffFile(io.BytesIO(plain)) as uncompressed:
        page = tiff.pages[0]
        assert page.tags["Compression"].value == tag
        assert page.dtype == (np.uint8 if bits == 8 else np.uint16)
        assert np.array_equal(page.asarray(), uncompressed.pages[0].asarray())
        if compression != "none":
            assert page.tags["Predictor"].value == 2
        if compression != "none" and bits == 8:
            assert len(made.data) < 0.75 * len(plain), (len(made.data), len(plain))
        if compression == "deflate" and bits == 16:                    # 16-bit codes' low bits are noise: less
            assert len(made.data) < 0.9 * len(plain), (len(made.data), len(plain))
    if bits == 8:
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(io.BytesIO(plain))))
    with pyexiv2.ImageData(data) as image:
        assert image.read_exif()["Exif.Image.Artist"] == "A. Photographer"
