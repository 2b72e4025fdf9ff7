"""The checks a retoucher's result must pass before the line takes it (qc.results.check_result)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile

from qc.results import ResultRefused, check_result, image_facts
from tasks.pixels.imageio import read_working_tiff, to_pil8, write_jpeg, write_working_tiff


@pytest.fixture
def working(tmp_path):
    """A working file as the grading stage writes it: 16-bit RGB TIFF with the sRGB profile, a gradient scene."""
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    image = np.stack([x / 160, y / 120, 0.5 + 0.3 * np.sin(x / 9) * np.cos(y / 7)], axis=2)
    return write_working_tiff(tmp_path / "12-IMG_0001-liquify_skin-r1.tif", image)


def edited(working, path):
    """A real edit: a brightened, softened patch (what a retoucher's skin pass does to a face)."""
    image = read_working_tiff(working)
    image[30:80, 40:110] = np.clip(image[30:80, 40:110] * 0.8 + 0.15, 0, 1)
    return write_working_tiff(path, image)


def test_a_real_edit_is_accepted_as_16_bit_tiff_and_as_8_bit_jpeg(working, tmp_path):
    facts = check_result(edited(working, tmp_path / "done.tif"), working)
    assert (facts.width, facts.height, facts.bits, facts.format) == (160, 120, 16, "TIFF") and facts.icc
    jpeg = write_jpeg(tmp_path / "done.jpg", to_pil8(read_working_tiff(working)), quality=90)
    assert check_result(jpeg, working).bits == 8


def test_the_unchanged_file_is_refused(working, tmp_path):
    same = shutil.copyfile(working, tmp_path / "mine.tif")
    with pytest.raises(ResultRefused, match="mine.tif is byte-identical to the working file.*Save your edited"):
        check_result(same, working)


def test_other_pixel_dimensions_are_refused_unless_the_stage_crops(working, tmp_path):
    cropped = write_working_tiff(tmp_path / "crop.tif", read_working_tiff(working)[10:110, 20:150])
    with pytest.raises(ResultRefused, match=r"crop.tif is 130x100 px but the working file is 160x120 px.*original size"):
        check_result(cropped, working)
    assert check_result(cropped, working, allow_crop=True).width == 130
    bigger = write_working_tiff(tmp_path / "big.tif", np.zeros((240, 320, 3), np.float32) + 0.5)
    with pytest.raises(ResultRefused, match="larger than the working file"):
        check_result(bigger, working, allow_crop=True)


@pytest.mark.parametrize("content, message", [
    (b"", "empty.tif is empty \\(0 bytes\\)"),
    (b"Photoshop crashed, sorry", "empty.tif is not a TIFF or JPEG"),
])
def test_a_file_that_is_not_an_image_is_refused(working, tmp_path, content, message):
    bad = tmp_path / "empty.tif"
    bad.write_bytes(content)
    with pytest.raises(ResultRefused, match=message):
        check_result(bad, working)


def test_a_truncated_tiff_is_refused(working, tmp_path):
    data = edited(working, tmp_path / "full.tif").read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultRefused, match="cut.tif cannot be decoded as an image.*export it again"):
        check_result(cut, working)


def test_a_lost_colour_profile_or_colour_is_refused(working, tmp_path):
    pixels = tifffile.imread(edited(working, tmp_path / "e.tif"))
    no_icc = tmp_path / "noicc.tif"
    tifffile.imwrite(no_icc, pixels, photometric="rgb")
    with pytest.raises(ResultRefused, match="noicc.tif has no embedded colour profile.*Embed Color Profile"):
        check_result(no_icc, working)
    grey = tmp_path / "grey.tif"
    tifffile.imwrite(grey, pixels[..., 1], photometric="minisblack", iccprofile=image_facts(working).icc)
    with pytest.raises(ResultRefused, match="grey.tif has 1 channel\\(s\\) but the working file is RGB"):
        check_result(grey, working)


def test_a_photoshop_style_lzw_tiff_is_accepted(tmp_path):
    """Photoshop saves 16-bit TIFFs with LZW by default: a retoucher's real export must pass."""
    import numpy as np
    import tifffile

    from qc.results import check_result
    from tasks.pixels import imageio

    working = tmp_path / "working.tif"
    imageio.write_working_tiff(working, np.full((40, 60, 3), 0.5, np.float32))
    edited = tmp_path / "edited.tif"
    data = tifffile.imread(working)
    data[10:20, 10:20] = 30000
    tifffile.imwrite(edited, data, photometric="rgb", compression="lzw", iccprofile=imageio.srgb_icc())
    check_result(edited, working)  # raises ResultRefused if refused
