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


def test_a_real_edit_is_accepted_as_16_bit_tiff(working, tmp_path):
    facts = check_result(edited(working, tmp_path / "done.tif"), working)
    assert (facts.width, facts.height, facts.bits, facts.format) == (160, 120, 16, "TIFF") and facts.icc


def test_an_8_bit_result_for_a_16_bit_working_file_is_refused(working, tmp_path):
    """Photoshop's "Save a Copy" as JPEG, or a TIFF after Image > Mode > 8 Bits: tones lost for every stage after."""
    eight = to_pil8(read_working_tiff(edited(working, tmp_path / "e.tif")))
    jpeg = write_jpeg(tmp_path / "done.jpg", eight, quality=90)
    with pytest.raises(ResultRefused, match="done.jpg is a 8-bit JPEG but the working file is 16-bit.*16-bit TIFF"):
        check_result(jpeg, working)
    tiff = tmp_path / "done8.tif"
    eight.save(tiff, icc_profile=image_facts(working).icc)
    with pytest.raises(ResultRefused, match="done8.tif is a 8-bit TIFF but the working file is 16-bit"):
        check_result(tiff, working)
    # an 8-bit working file (a JPEG someone started from) may come back as 8 bits
    jpeg_working = write_jpeg(tmp_path / "working.jpg", to_pil8(read_working_tiff(working)), quality=95)
    assert check_result(jpeg, jpeg_working).bits == 8


def test_a_result_in_another_colour_profile_is_refused(working, tmp_path):
    """Adobe RGB numbers read as sRGB: every colour shifts. The same sRGB primaries from another vendor pass."""
    from PIL import ImageCms

    from presets.model import OutputSpace
    from tasks.pixels.output import icc_profile

    pixels = tifffile.imread(edited(working, tmp_path / "e.tif"))
    adobe = tmp_path / "adobe.tif"
    tifffile.imwrite(adobe, pixels, photometric="rgb", iccprofile=icc_profile(OutputSpace.ADOBE_RGB))
    with pytest.raises(ResultRefused, match="adobe.tif has the colour profile '.*Adobe.*' but the working file has "
                                            "'.*sRGB.*'.*Convert to"):
        check_result(adobe, working)
    other_srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert other_srgb != image_facts(working).icc
    same = tmp_path / "srgb.tif"
    tifffile.imwrite(same, pixels, photometric="rgb", iccprofile=other_srgb)
    assert check_result(same, working).icc == other_srgb


@pytest.mark.parametrize("spoil, message", [
    (lambda image: image * 0.02, r"black.tif is almost black \(mean level .*the working file: mean level 4\d\.\d%"),
    (lambda image: np.minimum(image * 0.03 + 0.985, 1.0), r"black.tif is almost white"),
    (lambda image: np.where(np.arange(160)[None, :, None] < 100, 1.0, image), r"black.tif has \d+% clipped pixels .*clipped 0%"),
])
def test_an_obviously_broken_result_is_refused(working, tmp_path, spoil, message):
    broken = write_working_tiff(tmp_path / "black.tif", np.clip(spoil(read_working_tiff(working)), 0, 1))
    with pytest.raises(ResultRefused, match=message + ".*went wrong"):
        check_result(broken, working)


def test_a_dark_photo_that_was_dark_before_passes(tmp_path):
    """A night scene pulled almost black and edited stays almost black: not the retoucher's doing."""
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    night = write_working_tiff(tmp_path / "night.tif", np.stack([x, y, x + y], axis=2) / 280 * 0.05)
    image = read_working_tiff(night)
    image[40:60, 50:70] += 0.01
    assert check_result(write_working_tiff(tmp_path / "edit.tif", image), night).bits == 16


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


def test_a_result_with_transparency_is_refused(working, tmp_path):
    """An RGBA 16-bit TIFF was taken, and the next stage's working file had four channels."""
    pixels = tifffile.imread(edited(working, tmp_path / "e.tif"))
    alpha = np.dstack([pixels, np.full(pixels.shape[:2], 65535, np.uint16)])
    rgba = tmp_path / "rgba.tif"
    tifffile.imwrite(rgba, alpha, photometric="rgb", extrasamples=["unassalpha"], iccprofile=image_facts(working).icc)
    with pytest.raises(ResultRefused, match=r"rgba.tif has 4 channels \(transparency, or CMYK\) but the working file "
                                            r"is RGB.*save it as RGB without transparency"):
        check_result(rgba, working)


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


def test_the_working_files_pixels_saved_again_are_refused(working, tmp_path):
    """Any editor's save changes the bytes: the untouched photo came back as a 'retouch', counted as work."""
    again = tmp_path / "resaved.tif"
    tifffile.imwrite(again, tifffile.imread(working), photometric="rgb", compression="zlib",
                     iccprofile=image_facts(working).icc)
    with pytest.raises(ResultRefused, match="resaved.tif has exactly the working file's pixels .*nothing was changed"):
        check_result(again, working)


def _real(name: str) -> np.ndarray:
    import rawpy

    from tests.conftest import sample

    with rawpy.imread(str(sample(name))) as raw:
        return raw.postprocess(half_size=True, output_bps=16).astype(np.float32) / 65535


def _u16(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)        # as a 16-bit TIFF decodes


def _retouched_hard(image: np.ndarray) -> dict[str, np.ndarray]:
    """Edits far beyond a retouch pass's, each keeping the picture: the likeness must not refuse them."""
    import cv2

    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = np.clip(1 - 0.45 * (((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2), 0.05, 1)
    blurred = image.copy()
    blurred[h // 4:h // 2, w // 4:w // 2] = cv2.GaussianBlur(image[h // 4:h // 2, w // 4:w // 2], (0, 0), 8)
    cloned = image.copy()
    cloned[h // 3:h // 3 + h // 5, w // 3:w // 3 + w // 5] = image[:h // 5, :w // 5]
    return {"a stop brighter": np.clip(image * 2, 0, 1), "warmer": np.clip(image * [1.2, 1.0, 0.75], 0, 1),
            "black and white": np.repeat(image @ np.array([0.2126, 0.7152, 0.0722], np.float32)[:, None], 3, 1)
            .reshape(image.shape), "vignette": image * vignette[..., None], "skin softened": blurred,
            "cloned": cloned, "liquified all over": cv2.remap(image, xx + 6 * np.sin(yy / 30), yy, cv2.INTER_LINEAR),
            "contrast": np.clip((image - 0.5) * 1.6 + 0.5, 0, 1)}


def test_another_photo_handed_back_is_refused_and_the_same_photo_retouched_hard_is_not(tmp_path):
    """A retoucher who pulled two photos handed back one's edit for the other: it was stored, passed every check
    and stood as the other photo's retouch. Real camera frames: each real sample's hard edits are taken; every
    other real sample handed back for it is refused."""
    from qc.results import LIKENESS_FLOOR, likeness

    names = ["canon_eos_d30.crw", "canon_powershot_g2.crw", "canon_powershot_s40_b.crw", "kodak_dc120.kdc",
             "nikon_d1.nef"]
    frames = {name: _real(name) for name in names}
    lowest = 1.0
    for name, image in frames.items():
        for what, edit in _retouched_hard(image).items():
            alike = likeness(_u16(edit), _u16(image))
            lowest = min(lowest, alike)
            assert alike >= LIKENESS_FLOOR + 0.15, (name, what, alike)
    import cv2

    highest = -1.0
    for name, image in frames.items():
        for other, picture in frames.items():
            if other != name:
                highest = max(highest, likeness(_u16(cv2.resize(picture, image.shape[1::-1])), _u16(image)))
    assert highest < LIKENESS_FLOOR, highest
    working = write_working_tiff(tmp_path / "7-canon_eos_d30-liquify_skin-r1.tif", frames["canon_eos_d30.crw"])
    other = cv2.resize(frames["nikon_d1.nef"], frames["canon_eos_d30.crw"].shape[1::-1])
    with pytest.raises(ResultRefused, match=r"nikon.tif is another picture than the working file you pulled "
                                            r"\(likeness -?0\.\d\d, where the same photo retouched is above 0.45\)"):
        check_result(write_working_tiff(tmp_path / "nikon.tif", other), working)
    assert check_result(write_working_tiff(tmp_path / "done.tif", _retouched_hard(frames["canon_eos_d30.crw"])
                                           ["vignette"]), working).bits == 16


def test_the_right_photo_exported_blown_out_is_said_to_have_gone_wrong_not_to_be_another_picture(tmp_path):
    """Blown out, a photo loses the detail the likeness compares: checked first, the likeness told the retoucher
    it was another picture (and to tell the lead) where the export had gone wrong. Real camera frames. (Another
    photo's export that is also clipped is said to be clipped: looking at it, the retoucher sees the wrong photo.)"""
    image = _real("canon_eos_d30.crw")
    working = write_working_tiff(tmp_path / "7-canon_eos_d30-liquify_skin-r1.tif", image)
    with pytest.raises(ResultRefused) as refused:
        check_result(write_working_tiff(tmp_path / "blown.tif", np.clip(image * 8, 0, 1)), working)
    assert "the export or an edit went wrong" in str(refused.value) and "another picture" not in str(refused.value)


def test_a_result_mirrored_left_to_right_is_refused_and_hard_retouches_are_not(tmp_path):
    """A left-right flip passed: a real frame and its mirror are 0.6 alike, above the floor another picture is
    refused below. Against its own mirror image it is clearly more alike."""
    from qc.results import _not_the_photo

    for name in ("canon_powershot_g2.crw", "nikon_d1.nef"):
        image = _real(name)
        working = write_working_tiff(tmp_path / f"{name}-working.tif", image)
        flipped = image[:, ::-1].copy()
        flipped[:40] = np.clip(flipped[:40] * 1.1, 0, 1)                          # edited a little, too
        with pytest.raises(ResultRefused, match=r"flipped.tif is the working file mirrored left to right \(likeness "
                                                r"[01]\.\d\d to its mirror image, -?0\.\d\d to it as pulled\)"):
            check_result(write_working_tiff(tmp_path / "flipped.tif", flipped), working)
        for what, edit in _retouched_hard(image).items():
            assert _not_the_photo("done.tif", _u16(edit), working) == [], (name, what)


def test_a_result_clearly_more_alike_to_another_photo_held_is_found_and_a_burst_neighbour_is_not(tmp_path):
    """Two frames of one session, the subject moved (the middle of the frame another picture): 0.6-0.7 alike,
    above the floor. One's edit handed back for the other passed, and was delivered as the other. Among the photos the
    retoucher holds, the one it is clearly more alike to is named; a frame of the same burst (the camera moved a
    few pixels) is not, nor a photo that only looks alike."""
    import cv2

    from qc.results import another_photos

    first = _real("canon_eos_d30.crw")
    elsewhere = cv2.resize(_real("nikon_d1.nef"), first.shape[1::-1])
    second, middle = first.copy(), slice(first.shape[1] * 17 // 40, first.shape[1] * 23 // 40)
    second[:, middle] = elsewhere[:, middle]                                          # the couple moved, the room not
    burst = np.roll(first, (2, 3), axis=(0, 1))
    working = {name: write_working_tiff(tmp_path / f"{name}.tif", image)
               for name, image in {"A": first, "B": second, "A2": burst}.items()}
    edit_of_second = np.clip(second * [1.1, 1.0, 0.9], 0, 1)                         # warmed: B's retouch
    handed = write_working_tiff(tmp_path / "done.tif", edit_of_second)
    assert check_result(handed, working["A"]).bits == 16                             # passes each check alone
    assert another_photos(handed, working["A"], [("B.dng", working["B"]), ("A2.dng", working["A2"])]) == "B.dng"
    own = write_working_tiff(tmp_path / "own.tif", _retouched_hard(first)["skin softened"])
    assert another_photos(own, working["A"], [("A2.dng", working["A2"]), ("B.dng", working["B"])]) is None
    assert another_photos(handed, working["B"], [("A.dng", working["A"])]) is None   # handed back for its own
