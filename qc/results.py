"""A retoucher's result, checked before the line takes it: the facts of a TIFF or JPEG read from its header,
and :func:`check_result` against the working file they pulled (same size unless the stage may crop, colour and
profile kept, really edited, decodes). Pure: files in, facts or :class:`ResultRefused` out; nothing is stored
or recorded here (the hand-back, surfaces/actions/queue.py, stores the file and records it).

A file's size is read from its header before a pixel is decoded: a file declaring more than ``max_pixels``
(POSTLINE_MAX_RESULT_PIXELS) is refused unread, so a small compressed file that would inflate to gigabytes
cannot exhaust the server's memory."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from config.errors import Permanent, Refused
from config.line import QcGateSpec
from qc import checks
from tasks.files import sha256_of


class ResultRefused(Permanent):
    """The submitted file failed the result checks; ``problems`` lists each, naming the file."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class WorkingFileUnreadable(Refused):
    """The working file the result is checked against cannot be read: not the retoucher's fault."""


DEFAULT_MAX_PIXELS = 200_000_000    # see config.settings.PostlineSettings.max_result_pixels
BYTES_PER_PIXEL = 8                 # the most a result may take once decoded per pixel: four 16-bit samples


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    channels: int
    bits: int
    format: str                  # 'TIFF' or 'JPEG'
    icc: bytes | None = field(repr=False)
    decoded_bytes: int = 0       # what its pixels take in memory once decoded, as the header declares them
    segment_pixels: int = 0      # the largest piece a decoder makes at once (a TIFF's tile), as declared


_EXPORT_HINT = ("export it again as a TIFF (no, ZIP or LZW compression) at the working file's bit depth (16 bits for "
                "a 16-bit working file, as the grading writes them)")


class _TooLarge(Exception):
    """Pillow would not open the image at all: it declares more pixels than Pillow's own limit."""


def _tiff_facts(path: Path) -> tuple[ImageFacts, Callable[[], object]]:
    """The first page's facts from its header (tifffile reads the tags, not the pixels), and how to decode it."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        bits = int(page.bitspersample)
        if bits not in (8, 16):
            raise ValueError(f"{bits}-bit samples")
        icc = page.tags.get(34675)
        facts = ImageFacts(width=int(page.imagewidth), height=int(page.imagelength),
                           channels=int(page.samplesperpixel), bits=bits, format="TIFF",
                           icc=bytes(icc.value) if icc is not None else None, decoded_bytes=int(page.nbytes),
                           segment_pixels=(page.tiledepth * page.tilelength * page.tilewidth if page.is_tiled
                                           else page.rowsperstrip * page.imagewidth))

    def decode() -> np.ndarray:
        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].asarray()
    return facts, decode


def _pillow_facts(path: Path) -> tuple[ImageFacts, Callable[[], object]]:
    """The image's facts from Pillow's lazy open (the header only), and how to decode it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format not in ("JPEG", "TIFF"):
                raise ValueError(f"a {image.format} file")
            channels = len(image.getbands())
            bits = 16 if image.mode.startswith("I;16") else 8
            facts = ImageFacts(width=image.width, height=image.height, channels=channels, bits=bits,
                               format=image.format, icc=image.info.get("icc_profile") or None,
                               decoded_bytes=image.width * image.height * channels * bits // 8,
                               segment_pixels=image.width * image.height)
    except Image.DecompressionBombError as exc:
        raise _TooLarge(str(exc)) from None

    def decode() -> np.ndarray:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image)
    return facts, decode


def _too_large(name: str, facts: ImageFacts, max_pixels: int | None) -> str | None:
    """Why ``facts`` are more than this server decodes, or None."""
    pixels = facts.width * facts.height
    if max_pixels is None or (pixels <= max_pixels and facts.decoded_bytes <= max_pixels * BYTES_PER_PIXEL
            and facts.segment_pixels <= max_pixels):
        return None
    return (f"{name} declares {facts.width}x{facts.height} px, {facts.channels} x {facts.bits}-bit "
            f"({pixels / 1e6:,.0f} MP, {facts.decoded_bytes / 2 ** 30:,.1f} GiB once decoded), more than this "
            f"server opens: at most {max_pixels / 1e6:,.0f} MP (POSTLINE_MAX_RESULT_PIXELS). It was not decoded; "
            f"export at the working file's size")


def image_facts(path: Path, *, decode: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Size, channels, bit depth and ICC profile of a TIFF or JPEG, read from its header; then, with ``decode``,
    every pixel is read (so a truncated or corrupt file is caught), but only if the header declares no more
    than ``max_pixels`` pixels (and at most 8 bytes of samples per pixel; None: no limit, for the line's own
    files read without decoding). Raises :class:`ResultRefused` naming the file."""
    return _read(Path(path), decode=decode, max_pixels=max_pixels)[0]


def _read(path: Path, *, decode: bool, max_pixels: int | None) -> tuple[ImageFacts, np.ndarray | None]:
    """:func:`image_facts`, and with ``decode`` the decoded samples too."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ResultRefused([f"{path}: cannot be read ({exc.strerror}); check the path"]) from None
    if not head:
        raise ResultRefused([f"{path.name} is empty (0 bytes): {_EXPORT_HINT}"])
    if head[:3] != b"\xff\xd8\xff" and head[:2] not in (b"II", b"MM"):
        raise ResultRefused([f"{path.name} is not a TIFF or JPEG file: {_EXPORT_HINT}"])
    errors = []
    for reader in [_tiff_facts, _pillow_facts] if head[:2] in (b"II", b"MM") else [_pillow_facts]:
        try:
            facts, decoder = reader(path)
        except _TooLarge as exc:
            raise ResultRefused([f"{path.name} declares more pixels than this server opens ({exc}); it was not "
                                 "decoded: export at the working file's size"]) from None
        except Exception as exc:  # noqa: BLE001 - any header failure means "not a usable image"
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        too_large = _too_large(path.name, facts, max_pixels)
        if too_large:
            raise ResultRefused([too_large])
        if not decode:
            return facts, None
        try:
            return facts, decoder()
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "not a usable image"
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ResultRefused([f"{path.name} cannot be decoded as an image ({'; '.join(errors)[:300]}): {_EXPORT_HINT}"])


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and sha256_of(a) == sha256_of(b)


def _profile_name(icc: bytes) -> str:
    from PIL import ImageCms

    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()


def _profile_problem(name: str, icc: bytes, base_icc: bytes) -> str | None:
    """Whether the result's profile is the working file's (the same primaries: another vendor's sRGB passes)."""
    if icc == base_icc:
        return None
    try:
        found, wanted = checks.profile_colorants(icc), checks.profile_colorants(base_icc)
        found_name, wanted_name = _profile_name(icc), _profile_name(base_icc)
    except Exception:  # noqa: BLE001 - any parse failure of the result's profile means "not usable"
        return (f"{name} has a colour profile that cannot be read: export again with 'Embed Color Profile' "
                "ticked and the working file's profile (sRGB)")
    if np.abs(found - wanted).max() > checks.PROFILE_TOLERANCE:
        return (f"{name} has the colour profile {found_name!r} but the working file has {wanted_name!r}: its "
                f"colours would change. Convert to {wanted_name} (Edit > Convert to Profile) and export again")
    return None


def _display(samples: np.ndarray) -> np.ndarray:
    """Decoded samples (8- or 16-bit) as an RGB float image in [0, 1], every other row and column (plenty for
    the levels measured here, and a quarter of the memory)."""
    samples = samples[::2, ::2]
    if samples.ndim == 2:
        samples = np.repeat(samples[..., None], 3, axis=2)
    top = 65535.0 if samples.dtype == np.uint16 else 255.0
    return samples[..., :3].astype(np.float32) / top


LIKENESS_FLOOR = 0.45    # below this, the result is another picture than the working file (:func:`likeness`)
MIN_DETAIL = 0.08        # ... judged only on a working file with this much detail (the real samples: 0.18 to 0.59,
                         # 0.10 at 1/20 of their light; smooth gradients 0.01 to 0.07)


def likeness(a: np.ndarray, b: np.ndarray) -> float | None:
    """How alike two pictures of the same size are in what they show, -1..1: the correlation of their log
    luminance's detail (96 px wide, less its blur at 6 px), which an edit's exposure, colour, black and white,
    vignette or dodging hardly moves, nor a retouch's local blur, clone or liquify (0.64 to 1 on the real sample
    files and synthetic frames, a whole-frame warp the lowest; tests/test_qc_results.py checks it), while two
    different photos score near 0 (at most 0.38 between the real samples, each pair resized alike). Frames of one burst score as
    the same picture: a swap between them is not seen. None when ``b`` (the working file) has too little
    detail to tell (:data:`MIN_DETAIL`), or ``a`` none."""
    import cv2

    def detail(samples: np.ndarray) -> np.ndarray:
        grey = _display(samples) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        width = min(96, grey.shape[1])
        grey = cv2.resize(grey, (width, max(1, round(grey.shape[0] * width / grey.shape[1]))),
                          interpolation=cv2.INTER_AREA)
        logged = np.log(grey + 0.02)
        return (logged - cv2.GaussianBlur(logged, (0, 0), 6)).ravel()

    x, y = detail(a), detail(b)
    if y.std() < MIN_DETAIL or x.std() < 1e-3:
        return None
    return float(np.mean((x - x.mean()) / x.std() * (y - y.mean()) / y.std()))


def _not_the_photo(name: str, result: np.ndarray, working: Path) -> list[str]:
    """Whether the result is the working file's pixels unchanged, or another picture than the working file's."""
    import tifffile

    try:
        before = tifffile.imread(working)
    except Exception:  # noqa: BLE001 - the working file not readable as a TIFF (a JPEG one): nothing to compare
        return []
    if before.shape[:2] != result.shape[:2]:
        return []               # a crop: another size, compared by nothing here
    if before.dtype == result.dtype and before.shape == result.shape and np.array_equal(before, result):
        return [f"{name} has exactly the working file's pixels (saved again, not edited): nothing was changed. "
                "Save your edited version and submit that file"]
    alike = likeness(result, before)
    mirrored = likeness(result, before[:, ::-1])
    if alike is not None and mirrored is not None and _clearly_more(mirrored, alike):
        return [f"{name} is the working file mirrored left to right (likeness {mirrored:.2f} to its mirror image, "
                f"{alike:.2f} to it as pulled): a client sees it (a ring on the other hand, text backwards). Flip it "
                "back and export again"]
    if alike is not None and alike < LIKENESS_FLOOR:
        return [f"{name} is another picture than the working file you pulled (likeness {alike:.2f}, where the same "
                f"photo retouched is above {LIKENESS_FLOOR}): hand back your work on this photo, from its working "
                "file; if it is, tell the lead"]
    return []


CLEARLY_ALIKE = 0.9        # a result this alike to another picture than its own working file ...
CLEARLY_MORE = 0.1         # ... and by this much more than to its own is that picture's (another photo's, its mirror)


def _clearly_more(other: float, own: float) -> bool:
    """Whether a result ``other``-alike to another picture and ``own``-alike to its own working file is the other
    picture's: it is clearly so (the same photo retouched is 0.64 to 1 alike to its working file; frames of one
    burst, alike to each other, stay closer to their own)."""
    return other >= CLEARLY_ALIKE and other >= own + CLEARLY_MORE


def another_photos(result: Path, working: Path, others: list[tuple[str, Path]]) -> str | None:
    """Which of ``others`` (name, working file: the other photos the person holds now) ``result`` is the work on,
    rather than on its own ``working`` file: two portraits of one session are 0.8 alike, above
    :data:`LIKENESS_FLOOR`, and one's edit handed back for the other was delivered as the other. The name of the
    photo it is clearly more alike to (:func:`_clearly_more`), or None."""
    import tifffile

    if not others:                 # holding no other photo (as most hand-backs): nothing read again
        return None
    try:
        samples = tifffile.imread(result)
        own = likeness(samples, tifffile.imread(working))
    except Exception:  # noqa: BLE001 - not a TIFF (checked as it is by check_result), or unreadable: no comparison
        return None
    if own is None:
        return None
    for name, path in others:
        try:
            theirs = tifffile.imread(path)
        except Exception:  # noqa: BLE001 - another photo's working file gone or unreadable: not compared
            continue
        if theirs.shape[:2] == samples.shape[:2] and (alike := likeness(samples, theirs)) is not None \
                and _clearly_more(alike, own):
            return name
    return None


def _broken(name: str, result: np.ndarray, working: Path, spec: QcGateSpec) -> list[str]:
    """What is obviously wrong with the result (almost black or white, clipped) that the working file did not
    show: an export or an edit gone wrong, said with the levels before and after."""
    import tifffile

    found = checks.check_exposure(result, spec)
    if not found:
        return []
    try:
        before = _display(tifffile.imread(working))
    except Exception:  # noqa: BLE001 - the working file not readable: judge the result alone
        before = None
    had = {p.reason for p in checks.check_exposure(before, spec)} if before is not None else set()
    mean, clipped = checks.exposure_levels(result)
    was = checks.exposure_levels(before) if before is not None else None
    levels = (f"mean level {mean:.1%}, clipped {clipped:.0%}"
              + (f"; the working file: mean level {was[0]:.1%}, clipped {was[1]:.0%}" if was else ""))
    said = lambda problem: problem.message.split(" (")[0] if problem.message.endswith(")") else problem.message  # noqa: E731
    return [f"{name} {said(problem)} ({levels}): the export or an edit went wrong; look at it, fix it and export "
            "again" for problem in found if problem.reason not in had]      # its mean level once, not twice


def check_result(result: Path, working: Path, *, allow_crop: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, spec: QcGateSpec | None = None) -> ImageFacts:
    """Check a retoucher's ``result`` against the ``working`` file they pulled: its header declares no more
    than ``max_pixels`` pixels, it has the same pixel dimensions (with ``allow_crop``: no larger on either side),
    keeps colour (RGB stays RGB), the bit depth (a 16-bit working file comes back 16-bit) and the colour profile
    (the same primaries) if the working file had one, is not byte-identical to it, decodes, is neither its pixels
    unchanged nor another picture (:func:`likeness`), has no more channels (transparency) than its RGB, and is not obviously
    broken where the working file was not (almost black or white, too many clipped pixels: the limits of the
    order's QC gate, ``spec``). Every check that the header can answer runs before a pixel is decoded. Returns
    the result's facts, or raises :class:`ResultRefused` listing every problem."""
    result, working = Path(result), Path(working)
    facts = image_facts(result, decode=False, max_pixels=max_pixels)
    try:
        base = image_facts(working, decode=False, max_pixels=None)
    except ResultRefused as exc:
        raise WorkingFileUnreadable(f"the working file {working} cannot be read ({exc}); tell the lead") from None
    problems = []
    size, base_size = f"{facts.width}x{facts.height}", f"{base.width}x{base.height}"
    if not allow_crop and (facts.width, facts.height) != (base.width, base.height):
        problems.append(f"{result.name} is {size} px but the working file is {base_size} px: this stage keeps the "
                        "canvas (no crop, resize or rotation); export at the original size")
    elif allow_crop and (facts.width > base.width or facts.height > base.height):
        problems.append(f"{result.name} is {size} px, larger than the working file ({base_size} px): a crop may "
                        "only remove pixels; export without enlarging")
    if base.channels >= 3 and facts.channels < 3:
        problems.append(f"{result.name} has {facts.channels} channel(s) but the working file is RGB: "
                        "convert back to RGB colour before exporting")
    if base.channels == 3 and facts.channels > 3:
        problems.append(f"{result.name} has {facts.channels} channels (transparency, or CMYK) but the working file "
                        "is RGB, as the later stages and the delivery take it: flatten the image (Layer > Flatten "
                        "Image) and save it as RGB without transparency")
    if facts.bits < base.bits:
        problems.append(f"{result.name} is a {facts.bits}-bit {facts.format} but the working file is {base.bits}-bit: "
                        f"{facts.bits} bits lose tones the later stages and the print need (banding in skies and "
                        f"skin). Set Image > Mode > {base.bits} Bits/Channel and save as a {base.bits}-bit TIFF")
    if base.icc and not facts.icc:
        problems.append(f"{result.name} has no embedded colour profile but the working file had one: export "
                        "with 'Embed Color Profile' (sRGB) ticked")
    elif base.icc and (profile := _profile_problem(result.name, facts.icc, base.icc)):
        problems.append(profile)
    if problems:
        raise ResultRefused(problems)
    if _same_bytes(result, working):
        raise ResultRefused([f"{result.name} is byte-identical to the working file you pulled: nothing was "
                             "changed. Save your edited version and submit that file"])
    _, samples = _read(result, decode=True, max_pixels=max_pixels)   # every pixel: a truncated file is refused
    broken = _broken(result.name, _display(samples), working, spec or QcGateSpec())   # first: blown out, the right
    if broken:                                                   # photo reads as another picture (its detail gone)
        raise ResultRefused(broken)
    wrong = _not_the_photo(result.name, samples, working)
    if wrong:
        raise ResultRefused(wrong)
    return facts
