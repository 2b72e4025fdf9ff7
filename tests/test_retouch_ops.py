"""The assisted retouch operations: skin on faces only, blemishes, dodge & burn, local contrast, output
sharpening, album spreads. The skin tests run on a real portrait (scikit-image's astronaut, shipped in
its wheel: Eileen Collins, NASA)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from config.line import Operation
from tasks.operations import OPERATIONS, OpContext
from tasks.pixels import blemish, detail, dodgeburn, faces, finish, imageio, layout, skin
from tasks.pixels.blur import wide_blur
from tasks.pixels.colour import luma


@pytest.fixture(scope="module")
def found(portrait) -> list[faces.Face]:
    return faces.detect(portrait)


def grown_boxes(shape, found, grow) -> np.ndarray:
    inside = np.zeros(shape[:2], bool)
    for face in found:
        x0, y0, x1, y1 = face.grown(grow, shape)
        inside[y0:y1, x0:x1] = True
    return inside


def high_frequency(image: np.ndarray) -> float:
    y = luma(image)
    return float(np.var(y - cv2.GaussianBlur(y, (0, 0), 1.0)))


def hue_degrees(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)[..., 0]


def flat(rgb, h=64, w=96) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, np.float32), (h, w, 3)).copy()


# --- faces and skin --------------------------------------------------------------------------------

def test_the_astronaut_has_one_face_where_her_face_is(found):
    assert len(found) == 1
    face = found[0]
    assert 150 < face.centre[0] < 300 and 60 < face.centre[1] < 180 and 60 < face.w < 140


def test_skin_changes_only_the_faces_skin_and_keeps_its_texture(portrait, found):
    params = skin.SkinParams()
    out = skin.apply(portrait, params)                       # finds the face itself
    changed = (out != portrait).any(axis=2)
    in_boxes = grown_boxes(portrait.shape, found, params.face_grow)
    mask = skin.face_skin_mask(portrait, found, params) > 0
    assert changed.sum() > 0.5 * (skin.face_skin_mask(portrait, found, params) > 0.5).sum()  # the skin changed
    assert not (changed & ~in_boxes).any()                   # nothing outside the grown face box
    assert not (changed & ~mask).any()                       # nor off the skin inside it
    assert np.array_equal(out[~mask], portrait[~mask])       # bit-identical there
    ycrcb = cv2.cvtColor(portrait, cv2.COLOR_RGB2YCrCb)[changed] * 255
    assert ((ycrcb[:, 1] > 125) & (ycrcb[:, 1] < 185) & (ycrcb[:, 2] > 80) & (ycrcb[:, 2] < 135)).all()  # skin tones
    assert float(np.abs(out - portrait).max()) > 0.005       # a visible change, not rounding
    face = found[0]
    box = (slice(face.y, face.y + face.h), slice(face.x, face.x + face.w))
    assert high_frequency(out[box]) > 0.8 * high_frequency(portrait[box])   # pores kept: texture not erased


def test_the_skin_operation_on_files_leaves_everything_but_the_face_alone(portrait, found, tmp_path):
    source = imageio.write_working_tiff(tmp_path / "in.tif", portrait)
    OPERATIONS[Operation.SKIN](source, tmp_path / "out.tif", OpContext(preset=None, round=1))
    before, after = imageio.read_working_tiff(source), imageio.read_working_tiff(tmp_path / "out.tif")
    in_boxes = grown_boxes(portrait.shape, found, skin.SkinParams().face_grow)
    assert np.array_equal(after[~in_boxes], before[~in_boxes]) and not np.array_equal(after, before)


def test_the_line_files_skin_strength_sets_how_much_texture_the_face_loses(portrait, found, tmp_path):
    from config.line import load_line

    source = imageio.write_working_tiff(tmp_path / "in.tif", portrait)
    skin_px = skin.face_skin_mask(portrait, found) > 0.5

    def texture(image):
        y = luma(image)
        return float(np.var((y - cv2.GaussianBlur(y, (0, 0), 1.0))[skin_px]))
    result = {}
    for strength in (0.2, 1.0):
        line_file = tmp_path / f"line-{strength}.toml"
        line_file.write_text('[[stages]]\nkey = "cull_grade"\ntitle = "Cull & grade"\noperation = "grade"\n\n'
                             '[[stages]]\nkey = "liquify_skin"\ntitle = "Liquify & skin"\noperation = "skin"\n'
                             f'[stages.params]\nstrength = {strength}\n')
        spec = load_line(line_file).stage("liquify_skin")
        OPERATIONS[spec.operation](source, tmp_path / f"out-{strength}.tif",
                                   OpContext(preset=None, round=1, params=spec.params))
        result[strength] = texture(imageio.read_working_tiff(tmp_path / f"out-{strength}.tif"))
    before = texture(imageio.read_working_tiff(source))
    assert result[1.0] < 0.92 * result[0.2] and result[0.2] < before      # stronger smoothing, less fine texture


def test_photos_skinned_side_by_side_come_out_as_alone(portrait):
    """The line works two batches at once (threads): each photo's faces, and so its skin, are its own."""
    from concurrent.futures import ThreadPoolExecutor

    others = [np.ascontiguousarray(portrait[:, ::-1]), np.ascontiguousarray(portrait[::-1])]
    alone = [skin.apply(image) for image in [portrait, *others]]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            together = list(pool.map(skin.apply, [portrait, *others]))
            assert all(np.array_equal(a, b) for a, b in zip(alone, together))


def test_no_face_no_change(portrait):
    landscape = np.ascontiguousarray(portrait[300:, 300:])          # the flag and the shuttle: no face
    assert faces.detect(landscape) == []
    assert np.array_equal(skin.apply(landscape, skin.SkinParams()), landscape)
    assert np.array_equal(blemish.apply(landscape), landscape)


def test_a_false_face_on_something_grey_is_left_alone(portrait):
    helmet = faces.Face(413, 427, 38, 38)                            # the helmet on her lap: no skin in it
    assert np.array_equal(skin.apply(portrait, skin.SkinParams(), found=[helmet]), portrait)


def test_the_wide_blur_matches_a_full_size_gaussian():
    rng = np.random.default_rng(5)
    image = cv2.resize(rng.uniform(0, 1, (24, 36)).astype(np.float32), (720, 480), interpolation=cv2.INTER_CUBIC)
    exact = cv2.GaussianBlur(image, (0, 0), 30)
    assert np.abs(wide_blur(image, 30) - exact)[40:-40, 40:-40].max() < 0.01


def test_version_one_skin_parameters_keep_their_meaning():
    upgraded = skin.SkinParams.model_validate(skin.upgrade({"version": 1, "strength": 0.3}))
    assert upgraded.scope is skin.SkinScope.SKIN_TONES and upgraded.strength == 0.3 and upgraded.version == 2


# --- blemishes -------------------------------------------------------------------------------------

def dotted(image: np.ndarray, dots) -> np.ndarray:
    image = image.copy()
    for y, x in dots:
        image[y - 1:y + 2, x - 1:x + 2] = [0.42, 0.24, 0.20]          # a dark reddish spot, 3x3 px
    return image


def test_blemishes_on_skin_are_filled_and_spots_elsewhere_are_not():
    rng = np.random.default_rng(0)
    image = flat([0.30, 0.45, 0.80], 200, 300)                       # blue background
    image[40:160, 60:240] = [0.85, 0.62, 0.50]                        # skin
    image = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1).astype(np.float32)
    on_skin, off_skin = [(70, 90), (100, 150), (130, 200)], [(20, 20), (180, 280)]
    spotted = dotted(image, on_skin + off_skin)
    out = blemish.apply(spotted, blemish.BlemishParams(scope=skin.SkinScope.SKIN_TONES, max_spot_fraction=0.02))
    for y, x in on_skin:
        assert np.abs(out[y - 1:y + 2, x - 1:x + 2] - image[y - 1:y + 2, x - 1:x + 2]).max() < 0.05
    for y, x in off_skin:
        assert np.array_equal(out[y - 4:y + 5, x - 4:x + 5], spotted[y - 4:y + 5, x - 4:x + 5])
    changed = (out != spotted).any(axis=2)
    assert changed.sum() <= len(on_skin) * 7 * 7                      # the spots and a 2 px rim, nothing else


def test_blemishes_on_the_real_face_are_filled_and_the_background_is_not(portrait, found):
    mask = skin.face_skin_mask(portrait, found, skin.SkinParams())
    core = cv2.erode((mask > 0.5).astype(np.uint8), np.ones((11, 11), np.uint8))      # well inside the skin
    ys, xs = np.nonzero(core)
    on_face = [(int(ys[i]), int(xs[i])) for i in np.linspace(0, len(ys) - 1, 3).astype(int)]
    off_face = [(40, 40), (450, 60)]
    spotted = dotted(portrait, on_face + off_face)
    out = blemish.apply(spotted, found=found)
    for y, x in on_face:
        assert luma(out[y - 1:y + 2, x - 1:x + 2]).mean() > luma(spotted[y - 1:y + 2, x - 1:x + 2]).mean() + 0.1
    for y, x in off_face:
        assert np.array_equal(out[y - 4:y + 5, x - 4:x + 5], spotted[y - 4:y + 5, x - 4:x + 5])
    assert not ((out != spotted).any(axis=2) & ~grown_boxes(portrait.shape, found, skin.SkinParams().face_grow)).any()


# --- dodge & burn, local contrast, sharpening --------------------------------------------------------

def two_tone() -> np.ndarray:
    image = flat([0.15, 0.10, 0.06], 96, 192)                         # a brown in shadow
    image[:, 96:] = [0.90, 0.80, 0.62]                                # the same kind of colour, bright
    return image


def test_dodge_lifts_shadows_burn_holds_highlights_hue_kept():
    image = two_tone()
    out = dodgeburn.apply(image, dodgeburn.DodgeBurnParams(strength=0.6))
    before, after = luma(image), luma(out)
    assert after[:, :40].mean() > before[:, :40].mean() + 0.03       # shadows dodged
    assert after[:, -40:].mean() < before[:, -40:].mean() - 0.02     # highlights burned
    assert np.abs(hue_degrees(out) - hue_degrees(image)).max() < 1.0


def test_a_painted_map_dodges_only_where_painted():
    image = two_tone()
    painted = np.zeros(image.shape[:2], np.float32)
    painted[20:60, 20:60] = 1.0
    out = dodgeburn.apply(image, dodgeburn.DodgeBurnParams(strength=0.5), user_map=painted)
    assert luma(out[20:60, 20:60]).mean() > luma(image[20:60, 20:60]).mean() + 0.03
    assert np.array_equal(out[painted == 0], image[painted == 0])
    with pytest.raises(ValueError, match="one value per pixel"):
        dodgeburn.apply(image, user_map=painted[:10])


def test_local_contrast_raises_local_detail_and_keeps_hue(portrait):
    out = detail.apply(portrait, detail.DetailParams(amount=0.5))
    sigma = max(portrait.shape[:2]) * 0.02

    def local(image):
        y = luma(image)
        return float(np.std(y - cv2.GaussianBlur(y, (0, 0), sigma)))
    assert local(out) > 1.2 * local(portrait)
    hsv = cv2.cvtColor(portrait, cv2.COLOR_RGB2HSV)
    coloured = (hsv[..., 1] > 0.25) & (out.max(axis=2) < 1) & (out.min(axis=2) > 0)   # hue defined, nothing clipped
    difference = np.abs(hue_degrees(out) - hue_degrees(portrait))[coloured]
    assert np.minimum(difference, 360 - difference).max() < 1.0


def test_output_sharpening_threshold_spares_noise_but_sharpens_edges():
    rng = np.random.default_rng(3)
    image = flat([0.3, 0.3, 0.3])
    image[:, 48:] = 0.7
    noisy = np.clip(image + rng.normal(0, 0.004, image.shape), 0, 1).astype(np.float32)
    out = finish.apply(noisy, finish.FinishParams(amount=1.0, threshold=0.03))
    assert np.abs(out[:, :40] - noisy[:, :40]).max() < 1e-6            # flat, noisy area: left alone
    assert out[:, 47].mean() < noisy[:, 47].mean() - 0.02 and out[:, 48].mean() > noisy[:, 48].mean() + 0.02


# --- album spreads ----------------------------------------------------------------------------------

SPREAD = layout.SpreadParams(width_mm=200, height_mm=100, dpi=150, bleed_mm=3, margin_mm=8, gutter_mm=4)
COLOURS = [(0.9, 0.1, 0.1), (0.1, 0.8, 0.2), (0.1, 0.2, 0.9), (0.9, 0.8, 0.1), (0.6, 0.1, 0.7), (0.1, 0.7, 0.7)]


def test_a_spread_is_its_print_size_in_pixels():
    assert SPREAD.size_px == (round(206 * 150 / 25.4), round(106 * 150 / 25.4))   # trim + bleed on both sides
    page = layout.spread([flat(c, 80, 120) for c in COLOURS[:3]], "hero-left", SPREAD)
    assert page.shape == (SPREAD.size_px[1], SPREAD.size_px[0], 3) and page.dtype == np.float32


def test_every_photo_is_placed_in_order_on_spreads():
    photos = [flat(c, 80, 120) for c in COLOURS]
    pages = layout.lay_out(photos, SPREAD, sequence=("hero-left", "two-up"))
    templates = layout.load_templates()
    names = layout.plan(len(photos), ("hero-left", "two-up"), templates)
    assert names == ["hero-left", "two-up", "single"] and len(pages) == 3
    placed = []
    for page, name in zip(pages, names):
        for x0, y0, x1, y1 in layout.cell_boxes(templates[name], SPREAD):
            placed.append(tuple(np.round(page[(y0 + y1) // 2, (x0 + x1) // 2], 2)))
            assert (page[y0:y1, x0:x1] != 1.0).any(axis=2).all()             # the cell is filled edge to edge
    assert placed == [tuple(np.round(np.float32(c), 2)) for c in COLOURS]
    assert (pages[0][:5] == 1.0).all()                                      # bleed and margin are paper


def test_cover_crop_keeps_the_aspect_and_centres_on_the_subject():
    photo = flat([0.5, 0.5, 0.5], 200, 300)
    cv2.circle(photo, (230, 100), 30, (0.9, 0.1, 0.1), -1)                  # a round subject, right of centre
    cell = layout.cover_crop(photo, 80, 160, centre=(230, 100))            # a tall cell: most of the width goes
    red = (cell[..., 0] > 0.7) & (cell[..., 1] < 0.3)
    ys, xs = np.nonzero(red)
    assert red.any() and abs(xs.mean() - 40) < 3                           # the subject in the middle of the cell
    assert (xs.max() - xs.min()) == pytest.approx(ys.max() - ys.min(), abs=2)  # still round: no stretch
    off_centre = layout.cover_crop(photo, 80, 160)                          # centred on the photo instead
    assert not ((off_centre[..., 0] > 0.7) & (off_centre[..., 1] < 0.3)).any()   # ... the subject is cropped off


def test_the_crop_centres_on_the_face(portrait, found):
    x, y = layout.face_centre(portrait)
    assert (x, y) == pytest.approx(found[0].centre, abs=1)


@pytest.mark.parametrize("operation", [Operation.SKIN_TONES, Operation.BLEMISH, Operation.DODGE_BURN,
                                       Operation.DETAIL, Operation.FINISH])
def test_a_line_can_name_each_assisted_operation(operation, portrait, tmp_path):
    from config.line import StageSpec
    spec = StageSpec(key="retouch", title="Retouch", mode="assisted", operation=operation.value)
    source = imageio.write_working_tiff(tmp_path / "in.tif", portrait)
    OPERATIONS[spec.operation](source, tmp_path / "out.tif", OpContext(preset=None, round=1))
    assert imageio.read_working_tiff(tmp_path / "out.tif").shape == portrait.shape
