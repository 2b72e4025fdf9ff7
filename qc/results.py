"""A retoucher's result, checked before the line takes it: the facts of a TIFF or JPEG read from its header,
and :func:`check_result` against the working file they pulled (same size unless the stage may crop, colour and
profile kept, really edited, decodes). Pure: files in, facts or :class:`ResultRefused` out; nothing is stored
or recorded here (the hand-back, surfaces/actions/queue.py, stores the file and records it).

A file's size is read from its header before a pixel is decoded: a file declaring more than ``max_pixels``
(POSTLINE_MAX_RESULT_PIXELS) is refused unread, so a small compressed file that would inflate to gigabytes
cannot exhaust the server's memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import Permanent, Refused
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


_EXPORT_HINT = "export it again as a 16-bit TIFF (no, ZIP or LZW compression) or an 8-bit TIFF/JPEG"


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

    def decode() -> None:
        with tifffile.TiffFile(path) as tif:
            tif.pages[0].asarray()
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

    def decode() -> None:
        with Image.open(path) as image:
            image.load()
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
    path = Path(path)
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
            return facts
        try:
            decoder()
            return facts
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "not a usable image"
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ResultRefused([f"{path.name} cannot be decoded as an image ({'; '.join(errors)[:300]}): {_EXPORT_HINT}"])


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and sha256_of(a) == sha256_of(b)


def check_result(result: Path, working: Path, *, allow_crop: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Check a retoucher's ``result`` against the ``working`` file they pulled: its header declares no more
    than ``max_pixels`` pixels, it has the same pixel dimensions (with ``allow_crop``: no larger on either side),
    keeps colour (RGB stays RGB) and the embedded ICC profile if the working file had one, is not
    byte-identical to it, and decodes (16-bit TIFF, or 8-bit TIFF/JPEG). Every check that the header can answer
    runs before a pixel is decoded. Returns the result's facts, or raises :class:`ResultRefused` listing every
    problem."""
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
    if base.icc and not facts.icc:
        problems.append(f"{result.name} has no embedded colour profile but the working file had one: export "
                        "with 'Embed Color Profile' (sRGB) ticked")
    if problems:
        raise ResultRefused(problems)
    if _same_bytes(result, working):
        raise ResultRefused([f"{result.name} is byte-identical to the working file you pulled: nothing was "
                             "changed. Save your edited version and submit that file"])
    image_facts(result, max_pixels=max_pixels)     # now every pixel: a truncated or corrupt file is refused
    return facts
