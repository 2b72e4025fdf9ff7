"""The QC gate's automatic checks: each flags a photo made to fail it and passes a good one; the gate
reads the file, the record and the version before, and blames the right stage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from config.line import QcGateSpec, get_line
from presets.model import load_preset
from qc import checks, gate
from qc.checks import Reason
from tasks.files import sha256_of
from tasks.pixels import finish, imageio

SPEC = QcGateSpec()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), lifted off black: its suit's black would count as clipped."""
    data = pytest.importorskip("skimage.data")
    return (data.astronaut().astype(np.float32) / 255.0 * 0.85 + 0.08).astype(np.float32)


def reasons(problems) -> set[Reason]:
    return {p.reason for p in problems if p}


def grey_card(cast_rgb=(1.0, 1.0, 1.0)) -> np.ndarray:
    """A grey ramp with some colour patches, times a per-channel gain (a white-balance error)."""
    ramp = np.linspace(0.2, 0.9, 128, dtype=np.float32)
    image = np.repeat(np.repeat(ramp[None, :, None], 64, axis=0), 3, axis=2)
    image[:16, :32] = [0.8, 0.2, 0.2]
    image[:16, 32:64] = [0.2, 0.6, 0.2]
    return np.clip(image * np.float32(cast_rgb), 0, 1).astype(np.float32)


# --- sharpness ----------------------------------------------------------------------------------

def test_a_blurred_version_has_lost_sharpness_a_sharpened_one_has_not(photo):
    blurred = cv2.GaussianBlur(photo, (0, 0), 2.0)
    lost = checks.check_sharpness(blurred, photo, SPEC)
    assert lost is not None and lost.reason is Reason.SHARPNESS_LOST and "%" in lost.message
    assert checks.check_sharpness(finish.apply(photo), photo, SPEC) is None
    assert checks.check_sharpness(photo, photo, SPEC) is None


def test_sharpness_is_compared_at_the_same_size(photo):
    half = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)      # a downsized but sharp hand-back
    assert checks.check_sharpness(half, photo, SPEC) is None
    soft = cv2.resize(cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA), (512, 512))  # upscaled mush
    assert checks.check_sharpness(soft, photo, SPEC).reason is Reason.SHARPNESS_LOST


# --- skin texture -------------------------------------------------------------------------------

def test_plastic_skin_is_over_smoothed_a_gentle_pass_is_not(photo):
    from tasks.pixels import skin
    plastic = skin.apply(photo, skin.SkinParams(scope=skin.SkinScope.FACES, strength=1.0, texture=0.0))
    found = checks.check_skin_texture(plastic, photo, SPEC)
    assert found is not None and found.reason is Reason.OVER_SMOOTHED_SKIN and "texture" in found.message
    assert checks.check_skin_texture(skin.apply(photo, skin.SkinParams()), photo, SPEC) is None
    assert checks.check_skin_texture(grey_card(), grey_card(), SPEC) is None             # no face, no verdict
    assert gate.blamed_stage([found]) == get_line().stages[-1].key


# --- colour cast --------------------------------------------------------------------------------

def test_a_neutral_frame_has_no_cast_a_warm_one_has_a_yellow_cast():
    assert checks.colour_cast(grey_card(), SPEC) is None
    cast = checks.colour_cast(grey_card((1.0, 0.9, 0.6)), SPEC)               # daylight balance under tungsten
    assert cast is not None and cast.reason is Reason.COLOUR_CAST and "yellow" in cast.message
    assert checks.colour_cast(grey_card((0.75, 1.0, 0.8)), SPEC).message.startswith("has a green cast")
    assert checks.colour_cast(grey_card((1.0, 0.97, 0.92)), SPEC) is None       # a touch warm is not a cast


def test_a_tint_the_preset_gives_on_purpose_is_not_a_cast():
    warm = grey_card((1.0, 0.9, 0.6))
    a, b, _ = checks.neutral_ab(warm, SPEC)
    assert checks.colour_cast(warm, SPEC, neutral_tint=(a, b)) is None
    assert checks.preset_neutral_tint(load_preset("neutral")) == pytest.approx((0, 0), abs=0.5)
    assert checks.preset_neutral_tint(load_preset("warm-children"))[1] > 1.0    # its greys are warm


def test_a_frame_without_greys_gets_no_cast_verdict():
    saturated = np.zeros((32, 32, 3), np.float32)
    saturated[..., 0], saturated[..., 2] = 0.9, 0.3
    assert checks.neutral_ab(saturated, SPEC) is None and checks.colour_cast(saturated, SPEC) is None


# --- dimensions and aspect -----------------------------------------------------------------------

def test_a_crop_to_another_shape_is_flagged_the_same_shape_is_not():
    image = grey_card()                                                      # 128 x 64: aspect 2
    assert reasons(checks.check_image(image, expected_size=None, spec=SPEC, expected_aspect=2.0)) == set()
    problems = checks.check_image(image, expected_size=None, spec=SPEC, expected_aspect=1.5)
    assert reasons(problems) == {Reason.ASPECT} and "1.500" in problems[0].message
    resized = checks.check_image(image, expected_size=(256, 96), spec=SPEC)
    assert reasons(resized) == {Reason.DIMENSIONS} and "aspect changed" in resized[0].message


# --- ICC profile and integrity ---------------------------------------------------------------------

def test_a_photo_just_over_the_clipping_limit_says_by_how_much():
    image = np.full((100, 100, 3), 0.5, np.float32)
    measured = image[::2, ::2]                                 # the pixels the check measures (a view)
    measured[:5], measured[5, :10] = 1.0, 1.0                  # 260 of 2,500: 10.4% blown
    blown = image.copy()
    blown[:22] = 1.0                                           # 11 of the 50 rows measured, blown: 22%
    spec = QcGateSpec()
    assert [p.message for p in checks.check_exposure(image, spec)] == [
        "has 10.4% clipped pixels (limit 10.0%): highlights or shadows are blown"]
    assert [p.message for p in checks.check_exposure(blown, spec)] == [
        "has 22% clipped pixels (limit 10%): highlights or shadows are blown"]
    assert checks.shares(0.0996, 0.1004) == ["9.96%", "10.04%"]


def test_icc_present_and_srgb_passes_missing_or_other_fails(tmp_path):
    good = imageio.write_working_tiff(tmp_path / "good.tif", grey_card())
    with tifffile.TiffFile(good) as tif:
        icc = bytes(tif.pages[0].tags[gate.ICC_TAG].value)
    assert checks.check_icc(icc, imageio.srgb_icc(), SPEC) is None
    missing = checks.check_icc(None, imageio.srgb_icc(), SPEC)
    assert missing.reason is Reason.NO_ICC and "sRGB" in missing.message
    from PIL import ImageCms
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    assert checks.check_icc(lab, imageio.srgb_icc(), SPEC).reason is Reason.NO_ICC
    assert checks.check_icc(None, imageio.srgb_icc(), QcGateSpec(require_icc=False)) is None


def test_a_file_changed_after_its_stage_recorded_it_fails_integrity():
    assert checks.check_integrity("a" * 64, "a" * 64) is None
    assert checks.check_integrity("a" * 64, None) is None                    # nothing recorded: nothing to hold
    assert checks.check_integrity("b" * 64, "a" * 64).reason is Reason.INTEGRITY


# --- blame --------------------------------------------------------------------------------------

def test_cast_and_exposure_go_back_to_grading_sharpness_to_the_stage_that_made_the_file():
    stages = get_line().stages
    problem = checks.Problem
    assert gate.blamed_stage([problem(Reason.COLOUR_CAST, "")]) == stages[0].key
    assert gate.blamed_stage([problem(Reason.CLIPPING, "")]) == stages[0].key
    assert gate.blamed_stage([problem(Reason.SHARPNESS_LOST, "")]) == stages[-1].key
    assert gate.blamed_stage([problem(Reason.NO_ICC, "")]) == stages[-1].key


# --- the gate reads the file, the record and the version before ------------------------------------

@pytest.fixture
def recorded(home, photo, tmp_path):
    """An order whose last stage turned ``before.tif`` into ``after.tif`` (sharpened), recorded with its
    checksum, and the QC gate's item for it. Returns a function giving (item, photo) for a result."""
    from record import work
    from record.db import transaction
    from record.models import QC_GATE, Photo, PhotoStatus, ShootType, WorkItem, WorkStatus
    from record.moves import enqueue

    before = imageio.write_working_tiff(tmp_path / "before.tif", photo)

    def make(result: np.ndarray | None = None, *, write=imageio.write_working_tiff):
        after = tmp_path / f"after-{len(list(tmp_path.iterdir()))}.tif"
        write(after, finish.apply(photo) if result is None else result)
        with transaction() as session:
            preset = load_preset("neutral")
            order = work.create_order(session, client="QC", shoot=ShootType.PORTRAIT, preset_name=preset.name,
                                      preset_version=1, preset_hash="x", preset_json=preset.model_dump_json(),
                                      due=None, card_folder="/card")
            row = Photo(order_id=order.id, source_name="IMG_0001.CR3", sha256="0" * 64, size_bytes=1,
                        status=PhotoStatus.INGESTED, width=512, height=512)
            session.add(row)
            session.flush()
            session.add(WorkItem(order_id=order.id, photo_id=row.id, stage=get_line().stages[-1].key, round=1,
                                 status=WorkStatus.SUBMITTED, input_path=str(before), output_path=str(after),
                                 output_sha256=sha256_of(after)))
            item = enqueue(session, order_id=order.id, photo_id=row.id, stage=QC_GATE, round=1,
                           input_path=str(after), actor="test")
            session.flush()
            session.expunge(item)
            session.expunge(row)
        return item, row
    return make


def test_the_gate_passes_a_good_file(recorded):
    assert gate._inspect(*recorded()) == []


def test_the_gate_finds_lost_sharpness_against_the_version_before(recorded, photo):
    found = gate._inspect(*recorded(cv2.GaussianBlur(photo, (0, 0), 2.0)))
    assert reasons(found) == {Reason.SHARPNESS_LOST, Reason.OVER_SMOOTHED_SKIN}   # a blur takes the pores too
    assert gate.blamed_stage(found) == get_line().stages[-1].key


def test_the_gate_finds_a_file_changed_after_hand_back_and_a_missing_profile(recorded, photo):
    item, row = recorded()
    imageio.write_working_tiff(item.input_path, np.ascontiguousarray(photo[:, ::-1]))   # overwritten since
    assert Reason.INTEGRITY in reasons(gate._inspect(item, row))

    def without_profile(path, display):
        tifffile.imwrite(path, np.rint(display * 65535).astype(np.uint16), photometric="rgb")
    assert reasons(gate._inspect(*recorded(write=without_profile))) == {Reason.NO_ICC}


def test_the_gate_finds_a_cast_and_sends_it_to_the_stage_that_made_it(recorded, photo, tmp_path):
    """The last stage's input had no cast: that stage made it. Once grading's output shows it: grading."""
    from record.db import transaction
    from record.models import WorkItem, WorkStatus

    cast = np.clip(finish.apply(photo) * np.float32([1.0, 0.9, 0.6]), 0, 1)
    item, row = recorded(cast)
    found = gate._inspect(item, row)
    [problem] = [p for p in found if p.reason is Reason.COLOUR_CAST]
    first, last = get_line().stages[0], get_line().stages[-1]
    assert gate.blamed_stage(found) == last.key and f"{last.title} made it so: cast " in problem.message
    graded = imageio.write_working_tiff(tmp_path / "graded.tif", cast)
    with transaction() as session:
        session.add(WorkItem(order_id=row.order_id, photo_id=row.id, stage=first.key, round=1,
                             status=WorkStatus.SUBMITTED, input_path="/card/IMG_0001.CR3", output_path=str(graded),
                             output_sha256=sha256_of(graded)))
    found = gate._inspect(item, row)
    [problem] = [p for p in found if p.reason is Reason.COLOUR_CAST]
    assert gate.blamed_stage(found) == first.key and f"it came out of {first.title} so (cast " in problem.message


def test_a_damaged_file_is_unreadable(recorded):
    item, row = recorded()
    with open(item.input_path, "r+b") as fh:
        fh.truncate(2000)
    assert reasons(gate._inspect(item, row)) == {Reason.UNREADABLE}
