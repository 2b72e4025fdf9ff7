"""The fused per-pixel pass: a 16-bit linear image through a shaper and a baked 3D LUT, with the
vignette gain, straight into the output's dtype, in one sweep over the image.

Input: uint16 HxWx3 (linear Rec.2020 as LibRaw writes it). The shaper maps each 16-bit code to a
position on the LUT's grid (the grid is spaced evenly in ``code ** (1/2.4)``, so shadows get as
many points as highlights). Output: encoded values of the LUT, times the vignette gain, clipped to
[0, 1] and scaled to the output dtype (uint8, uint16 or float32 in [0, 1]).

Two kernels, one arithmetic: ``fastlut.c``, compiled on first use with the system's C compiler
(``CC``, else ``cc``) into ``__pycache__`` (or the user's cache folder) and called through ctypes
on bands of rows, one per thread; and, where that cannot be built or loaded, or ``POSTLINE_FASTLUT=numba``, the numba kernel
of ``fastlut_numba``. Threads: ``NUMBA_NUM_THREADS`` when set (the benchmark's one-per-core workers
set 1), else one per core.

Hand-written for a measured reason: a library's 3D LUT does the same work far slower and in float64. On a 6 MP
image (a loaded 2-core machine), this pass took 0.30 s; colour-science's ``LUT3D.apply`` with the same table and
tetrahedral interpolation, on the shaped values alone (no vignette, no conversion to the output dtype), 64 s.
bench/README.md has the pass's own figures against rawpy, darktable and RawTherapee."""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from presets.model import Interpolation

log = logging.getLogger(__name__)

SHAPER_POWER = 1 / 2.4


def shaper_codes(size: int) -> np.ndarray:
    """Position on a ``size``-point grid of every uint16 code, float32 (65536,)."""
    codes = np.arange(65536, dtype=np.float64) / 65535.0
    return (np.power(codes, SHAPER_POWER) * (size - 1)).astype(np.float32)


def grid_linear(size: int) -> np.ndarray:
    """The linear values (0..1) of a ``size``-point grid spaced like the shaper."""
    return np.power(np.linspace(0.0, 1.0, size), 1 / SHAPER_POWER).astype(np.float32)


def _tetrahedra(size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each order code ``(r >= g) << 2 | (g >= b) << 1 | (r >= b)`` of a point's fractions in its
    cell, the flat offsets of the tetrahedron's second vertex (one step along the largest fraction's
    axis) and third (plus one along the middle one's). No order gives codes 1 and 6."""
    step = {"r": 4 * size * size, "g": 4 * size, "b": 4}
    second, third = np.zeros(8, np.int32), np.zeros(8, np.int32)
    for first, middle, last in itertools.permutations("rgb"):
        rank = {first: 0, middle: 1, last: 2}
        ge = lambda a, b: int(rank[a] <= rank[b])          # noqa: E731 - ties sort by r, g, b
        code = ge("r", "g") << 2 | ge("g", "b") << 1 | ge("r", "b")
        second[code] = step[first]
        third[code] = step[first] + step[middle]
    return second, third


_SCALE = {np.dtype(np.uint8): (255.0, 0.5), np.dtype(np.uint16): (65535.0, 0.5), np.dtype(np.float32): (1.0, 0.0)}
GAIN_STEPS = 4096


def _vignette_tables(height: int, width: int, vignette: tuple[float, float, float]):
    """Half the squared normalised distance from the centre, split by axis, and the gain over it
    (the same falloff as ``tasks.pixels.vignette``)."""
    amount, inner, outer = vignette
    if amount == 0:
        empty = np.zeros(0, np.float32)
        return np.zeros(width, np.float32), np.zeros(height, np.float32), empty
    gx = (((np.arange(width) + 0.5) / (width / 2.0) - 1.0) ** 2 * 0.5).astype(np.float32)
    gy = (((np.arange(height) + 0.5) / (height / 2.0) - 1.0) ** 2 * 0.5).astype(np.float32)
    r = np.sqrt(np.linspace(0.0, 1.0, GAIN_STEPS + 1))
    t = np.clip((r - inner) / max(outer - inner, 1e-3), 0.0, 1.0)
    return gx, gy, (1.0 + amount * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def padded(table: np.ndarray) -> np.ndarray:
    """An (N, N, N, 3) table as the kernel's flat, 4-channel float32 array."""
    four = np.zeros(table.shape[:3] + (4,), np.float32)
    four[..., :3] = table
    return four.reshape(-1)


def apply(src: np.ndarray, table: np.ndarray, *, interpolation: Interpolation = Interpolation.TETRAHEDRAL,
          vignette: tuple[float, float, float] = (0.0, 0.5, 1.0), dtype=np.uint8,
          out: np.ndarray | None = None, flat: np.ndarray | None = None) -> np.ndarray:
    """``src`` (uint16 HxWx3, linear) through ``table`` ((N, N, N, 3) over the shaper grid); the
    vignette is (amount -1..1, radius where it starts, radius where it is full) in half-diagonals.
    ``flat`` may carry ``padded(table)`` when the caller keeps it."""
    if src.dtype != np.uint16 or src.ndim != 3 or src.shape[2] != 3:
        raise ValueError(f"expected a uint16 HxWx3 image, got {src.dtype} {src.shape}")
    size = table.shape[0]
    if table.shape != (size, size, size, 3) or size < 2:
        raise ValueError(f"expected an (N, N, N, 3) table, N >= 2, got {table.shape}")
    if out is None:
        out = np.empty(src.shape, np.dtype(dtype))
    elif out.shape != src.shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous array of the image's shape {src.shape}")
    if out.dtype not in _SCALE:
        raise ValueError(f"the pass writes uint8, uint16 or float32, not {out.dtype}")
    scale, offset = _SCALE[out.dtype]
    flat = padded(table) if flat is None else np.ascontiguousarray(flat, np.float32)
    if flat.shape != (size ** 3 * 4,):
        raise ValueError(f"flat must be padded(table): {size ** 3 * 4} values, got {flat.shape}")
    if scale != 1.0:
        flat = flat * np.float32(scale)
    gx, gy, gains = _vignette_tables(src.shape[0], src.shape[1], vignette)
    clamp = bool(gains.size and gains.max() > 1.0) or not (0.0 <= table.min() and table.max() <= 1.0)
    index, fraction, second, third = _grid_tables(size)
    src = np.ascontiguousarray(src)
    tetrahedral = interpolation is Interpolation.TETRAHEDRAL
    native = _native()
    if native is None:
        from tasks.pixels import fastlut_numba

        fastlut_numba.run(src, index, fraction, flat, size, tetrahedral, second, third, gx, gy, gains, clamp, out,
                          np.float32(scale), np.float32(offset))
        return out

    def band(rows: tuple[int, int]) -> None:
        native(src.ctypes.data, index.ctypes.data, fraction.ctypes.data, flat.ctypes.data, size, int(tetrahedral),
               second.ctypes.data, third.ctypes.data, gx.ctypes.data, gy.ctypes.data, gains.ctypes.data,
               gains.shape[0] - 1, int(clamp), out.ctypes.data, _OUT_KIND[out.dtype], scale, offset,
               src.shape[1], *rows)

    height = src.shape[0]
    threads = min(_threads(), max(1, height // 64))
    bands = [(height * k // threads, height * (k + 1) // threads) for k in range(threads)]
    if threads == 1:
        band(bands[0])
    else:
        list(_pool(threads).map(band, bands))
    return out


_GRIDS: dict[int, tuple[np.ndarray, ...]] = {}


def _grid_tables(size: int) -> tuple[np.ndarray, ...]:
    """What the kernel looks up for a ``size``-point table: each 16-bit code's cell (int32) and
    position in it (float32, 0..1; the last cell's far edge is 1.0), and ``_tetrahedra``."""
    if size not in _GRIDS:
        position = shaper_codes(size)
        index = np.minimum(position.astype(np.int32), size - 2).astype(np.int32)
        fraction = (position - index.astype(np.float32)).astype(np.float32)
        _GRIDS[size] = (index, fraction, *_tetrahedra(size))
    return _GRIDS[size]


# --- the C kernel -----------------------------------------------------------------------------------
_OUT_KIND = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}
_C_SOURCE = Path(__file__).with_name("fastlut.c")
_NATIVE_LOCK = threading.Lock()
_NATIVE: list = []                      # [the ctypes function, or None when it cannot be had]
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _threads() -> int:
    try:
        return max(1, int(os.environ["NUMBA_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def _pool(threads: int) -> ThreadPoolExecutor:
    """The threads the bands run on; a forked child makes its own (the parent's are not there)."""
    key = (os.getpid(), threads)
    with _NATIVE_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="fastlut")
        return _POOLS[key]


def _library_path(source: Path = _C_SOURCE) -> Path:
    """Where the compiled ``source`` lives: named by a hash of its source, the compiler named and this
    CPU's model and features (it is built for this CPU); in ``__pycache__`` beside the source, or
    where that cannot be written (an installed package), in the user's cache folder (never a
    shared temp folder: another user could put a library there under the expected name)."""
    try:
        cpu = "".join(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith(("model name", "flags")))
    except OSError:
        cpu = platform.processor()
    key = hashlib.sha256(b"\0".join([source.read_bytes(), os.environ.get("CC", "cc").encode(),
                                      platform.machine().encode(), cpu.encode()])).hexdigest()[:16]
    name = f"{source.stem}-{key}.so"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "postline"
    folders = [source.parent / "__pycache__", cache]
    for folder in folders:
        if (folder / name).exists():
            return folder / name
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder / name
    raise OSError(f"no folder to build the kernel in ({', '.join(map(str, folders))} cannot be written)")


def _compile(target: Path, source: Path = _C_SOURCE) -> None:
    """Build ``source`` (``fastlut.c`` unless told) into ``target`` (atomically: two processes may build at once)."""
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise OSError(f"no C compiler ({compiler!r} is not on PATH)")
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{source.stem}-", suffix=".so")
    os.close(fd)
    try:
        cmd = [compiler, "-O2", "-march=native", "-fPIC", "-shared", "-o", partial, str(source)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise OSError(f"{' '.join(cmd)} failed: {run.stderr.strip()[-500:]}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _native():
    """The C kernel as a ctypes function, compiled on first use; None (and the numba kernel) when
    ``POSTLINE_FASTLUT=numba`` or it cannot be built or loaded (said once in the log)."""
    if _NATIVE:
        return _NATIVE[0]
    with _NATIVE_LOCK:
        if _NATIVE:
            return _NATIVE[0]
        function = None
        if os.environ.get("POSTLINE_FASTLUT", "").lower() != "numba":
            try:
                path = _library_path()
                if not path.exists():
                    _compile(path)
                function = ctypes.CDLL(str(path)).fastlut_rows
                p, i32, i64, f32 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64, ctypes.c_float
                function.argtypes = [p, p, p, p, i32, i32, p, p, p, p, p, i32, i32, p, i32, f32, f32, i64, i64, i64]
                function.restype = None
            except (OSError, subprocess.SubprocessError, AttributeError) as exc:
                log.info("the fused pass runs on numba (its C kernel is not available: %s)", exc)
                function = None
        _NATIVE.append(function)
        return function


_LIBRARIES: dict[Path, ctypes.CDLL | None] = {}


def native_library(source: Path) -> ctypes.CDLL | None:
    """Another C file beside this one (``kernels.c``), compiled and loaded as the pass's kernel is: the library,
    or None when it cannot be built or loaded (said once in the log; the caller has its numpy fallback)."""
    with _NATIVE_LOCK:
        if source not in _LIBRARIES:
            try:
                path = _library_path(source)
                if not path.exists():
                    _compile(path, source)
                _LIBRARIES[source] = ctypes.CDLL(str(path))
            except (OSError, subprocess.SubprocessError) as exc:
                log.info("%s runs on numpy (its C kernels are not available: %s)", source.stem, exc)
                _LIBRARIES[source] = None
        return _LIBRARIES[source]


def kernel_name() -> str:
    """Which kernel ``apply`` runs: "c" or "numba"."""
    return "numba" if _native() is None else "c"


_WARM: set[np.dtype] = set()


def warm_up(dtype=np.uint8) -> None:
    """Load (or compile) the kernel for ``dtype`` outputs: loading the C kernel takes about a
    millisecond (compiling it, once per machine, about a second); numba's first call in a process
    costs 0.2-0.5 s, whatever the image size."""
    dtype = np.dtype(dtype)
    if dtype not in _WARM:
        apply(np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 2, 3), np.float32), dtype=dtype)
        apply(np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 2, 3), np.float32), dtype=dtype,
              vignette=(-0.1, 0.5, 1.0))
        _WARM.add(dtype)


def warm_up_in_background(dtype=np.uint8) -> threading.Thread | None:
    """``warm_up`` on a thread, so it overlaps the RAW decode (LibRaw releases the GIL); join it
    before ``apply``. None when already warm."""
    if np.dtype(dtype) in _WARM:
        return None
    thread = threading.Thread(target=warm_up, args=(dtype,), name="fastlut-warm-up", daemon=True)
    thread.start()
    return thread
