"""The cull's signals on real pictures (tasks/pixels/cull.py, sharpness.py, eyes.py, preview.py), against the
thresholds of the line file as shipped: the camera samples as they are and blurred, smeared, re-exposed and
shifted; scikit-image's astronaut portrait with her eyes open and painted shut."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.measure import blur_effect

from config.line import DEFAULT_LINE_FILE, load_line
from tasks.pixels import cull, sharpness
from tasks.pixels.colour import luma
from tasks.pixels.preview import Preview, PreviewSource, analysis_image
from tasks.synthetic import render_scene
from tests import cullkit as kit
from tests.conftest import sample

SCENES = ("canon_eos_d30.crw", "canon_powershot_s40.crw", "nikon_d1.nef")   # real scenes (not colour charts)


@pytest.fixture(scope="module")
def spec():
    return load_line(DEFAULT_LINE_FILE).cull


def measured(scene: np.ndarray) -> cull.Signals:
    return cull.measure_picture(Preview(kit.display(scene), PreviewSource.SENSOR))


def astronaut() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255.0


def test_the_blur_measure_is_scikit_images_blur_effect_along_x_and_y():
    grey = luma(kit.display(kit.linear("nikon_d1.nef")))
    along_y, along_x = blur_effect(grey, reduce_func=None)
    mine = sharpness.directional(grey)
    assert mine[0] == pytest.approx(along_x, abs=2e-3) and mine[2] == pytest.approx(along_y, abs=2e-3)


@pytest.mark.parametrize("name", SCENES)
def test_sharp_frames_are_sharp_and_blurred_or_smeared_ones_are_not(name, spec):
    scene = kit.linear(name)
    sharp = measured(scene)
    assert sharp.blur < spec.max_blur and sharp.motion < spec.max_motion
    assert measured(kit.blurred(scene, 3)).blur >= spec.max_blur                # out of focus
    for angle in (0, 90):                                                      # camera shake, each way
        smear = measured(kit.smeared(scene, 15, angle))
        assert smear.motion >= spec.max_motion and smear.motion_angle == angle


def test_blur_is_measured_where_the_subject_is_not_over_the_whole_frame(spec):
    scene = kit.linear("canon_powershot_s40.crw")
    width = scene.shape[1]
    soft_background = scene.copy()                  # most of the frame thrown out of focus, the rest sharp
    soft_background[:, :int(width * 0.8)] = kit.blurred(scene, 6)[:, :int(width * 0.8)]
    signals = measured(soft_background)
    assert signals.subject == cull.SUBJECT_REGION
    assert signals.blur < spec.max_blur and signals.blur == pytest.approx(measured(scene).blur, abs=0.05)
    assert blur_effect(luma(kit.display(soft_background))) >= spec.max_blur   # the frame's average would say blurred


def test_the_astronaut_has_her_eyes_open_and_then_shut():
    portrait = astronaut()
    open_ = cull.measure_picture(Preview(portrait, PreviewSource.IMAGE))
    shut = cull.measure_picture(Preview(kit.shut_eyes(portrait), PreviewSource.IMAGE))
    assert (open_.faces, open_.eyes, open_.subject) == (1, ("open",), cull.SUBJECT_FACE)
    assert (shut.faces, shut.eyes) == (1, ("shut",))


def test_no_face_no_eyes_and_a_face_like_blob_is_not_read():
    landscape = measured(kit.linear("nikon_d1.nef"))
    assert landscape.faces == 0 and landscape.eyes == ()
    drawn = render_scene("portrait", 900, 600, seed=3)    # a smooth synthetic face with dots for eyes
    blob = cull.measure_picture(Preview(kit.display(drawn), PreviewSource.SENSOR))
    assert blob.faces == 1 and blob.eyes == ()            # found, but not a face's texture: its eyes are not read


# Crops of the PowerShot S40's box (its packaging: print, a camera, a cyclist) where the face cascade finds a "face":
# (x, y, width, height) in the half-size decode, mirrored or not, at 600x400 as the cull measures a frame.
PACKAGING_FACES = (((124, 20, 989, 659), False), ((145, 246, 767, 511), True), ((168, 51, 966, 644), True),
                   ((404, 10, 750, 500), True))


@pytest.mark.parametrize("box, mirrored", PACKAGING_FACES)
def test_a_false_face_in_a_product_shot_is_not_read_as_eyes_shut(box, mirrored):
    """No one is in the picture: the cascade's "face" on the packaging has no eye and "lids" as light as "cheeks",
    which read as eyes shut, and the cull suggested leaving the frame out for closed eyes."""
    import cv2

    x, y, w, h = box
    crop = cv2.resize(np.ascontiguousarray(kit.linear("canon_powershot_s40.crw")[y:y + h, x:x + w]), (600, 400))
    picture = np.ascontiguousarray(kit.display(crop[:, ::-1] if mirrored else crop))
    signals = cull.measure_picture(Preview(picture, PreviewSource.IMAGE))
    assert signals.faces >= 1                               # the cascade still finds its "face" ...
    assert "shut" not in signals.eyes                       # ... but no eyes shut are read on it


def test_the_astronaut_with_her_eyes_shut_lit_from_one_side_dimmed_or_soft_still_reads_shut():
    shut = kit.shut_eyes(astronaut())
    across = np.linspace(0.8, 1.0, shut.shape[1], dtype=np.float32)[None, :, None]
    for picture in (shut * across, shut * 0.6, kit.blurred(shut, 1.5)):
        assert cull.measure_picture(Preview(np.ascontiguousarray(picture), PreviewSource.IMAGE)).eyes == ("shut",)


def test_over_and_under_exposed_frames(spec):
    bright = measured(kit.linear("canon_eos_d30.crw") * 4)          # two stops over
    dark = measured(kit.linear("nikon_d1.nef") / 2 ** 3.5)          # three and a half under
    normal = [measured(kit.linear(name)) for name in SCENES]
    assert bright.highlights >= spec.max_highlights
    assert dark.median_luma < spec.min_median_luma
    assert all(n.highlights < spec.max_highlights and n.median_luma >= spec.min_median_luma
               and n.shadows < spec.max_shadows for n in normal)


def test_near_frames_have_near_hashes_and_different_scenes_far_ones(spec):
    scene = kit.linear("canon_powershot_s40.crw")
    first = measured(scene).phash
    next_frame = measured(kit.shifted(scene, 0.01, ev=0.3)).phash
    others = [measured(kit.linear(name)).phash for name in SCENES if name != "canon_powershot_s40.crw"]
    assert cull.hash_distance(first, next_frame) <= spec.duplicate_hash_distance
    assert min(cull.hash_distance(first, other) for other in others) > 2 * spec.burst_hash_distance


def test_the_picture_comes_from_the_cameras_preview_when_it_is_large_enough():
    large = analysis_image(sample("canon_eos_d30.crw"), 1500)      # a 1440x960 JPEG inside the RAW
    small = analysis_image(sample("canon_powershot_g2.crw"), 1500)  # 640x480 inside: the sensor data instead
    assert (large.source, large.image.shape) == (PreviewSource.PREVIEW, (960, 1440, 3))
    assert (small.source, small.image.shape) == (PreviewSource.SENSOR, (860, 1156, 3))
    assert 0.3 < float(np.median(luma(small.image))) < 0.7           # a picture, not black or white
