"""The whole-image steps of tasks/pixels/kernels.py against the numpy expressions they stand for, on a 24 MP photo.

A synthetic 24 MP DNG (tasks/synthetic, a portrait) is graded with the wedding preset (tasks/operations.grade_image,
as the line's first stage does) and its 16-bit codes taken, as a master's. Then each step runs on that photo, the
numpy expression and the kernel alternately, ``--rounds`` times each; a step's time is its median. Each step's
calls per photo are the default line's (its four automatic stages, QC, the wedding recipe):

  round_stored   3   rounding to the stored 16 bits after each fused stage but the last (tasks/operations.step)
  to_u16         1   the master's 16-bit codes when it is written (tasks/pixels/imageio.write_working_tiff)
  from_u16       1   the master read back by QC (imageio.read_working_tiff)
  times_u16      1   the master read back by the delivery (tasks/deliver_render.make_files)
  look_up        1   the print rendition's 16-bit codes to linear light (tasks/pixels/renditions.to_space)
  add_clipped    3   local contrast (detail), output sharpening (finish), the print rendition's sharpening

    python bench/kernels.py [--rounds 5]

The last line printed is JSON: which kernels ran (C, or numpy where kernels.c cannot be built), each step's
median milliseconds both ways and their ratio, and ``per_photo_ratio``
(the kernels' time against numpy's, each step weighted by its calls per photo; below 1: faster), with the
seconds of a photo each way.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from presets.model import DEFAULT_FOR_SHOOT, load_preset  # noqa: E402
from tasks.operations import OpContext, grade_image  # noqa: E402
from tasks.pixels import imageio, kernels  # noqa: E402
from tasks.pixels.colour import srgb_decode_table  # noqa: E402
from tasks.synthetic import DngMeta, render_scene, write_dng  # noqa: E402

U16 = np.float32(65535.0)
CALLS = {"round_stored": 3, "to_u16": 1, "from_u16": 1, "times_u16": 1, "look_up": 1, "add_clipped": 3}


def numpy_steps(display: np.ndarray, codes: np.ndarray, plane: np.ndarray) -> dict:
    """Each step as numpy did it before the kernels (the code they replaced, band by band where it was)."""
    def round_stored(image: np.ndarray) -> None:
        np.multiply(image, U16, out=image)
        np.clip(image, 0.0, U16, out=image)
        np.rint(image, out=image)
        np.divide(image, U16, out=image)

    def to_u16() -> None:
        data = np.empty(display.shape, np.uint16)
        for rows in imageio.bands(display.shape[0]):
            np.rint(np.clip(display[rows], 0.0, 1.0) * U16, out=data[rows], casting="unsafe")

    def from_u16() -> None:
        image = codes.astype(np.float32)
        image /= U16

    def times_u16() -> None:
        image = codes.astype(np.float32)
        image *= 1.0 / 65535.0

    def look_up() -> None:
        out = np.empty(codes.shape, np.float32)
        for rows in imageio.bands(codes.shape[0]):
            np.take(srgb_decode_table(), codes[rows], out=out[rows])

    def add_clipped() -> None:
        out = display + plane[..., None]
        np.clip(out, 0.0, 1.0, out=out)

    return {"round_stored": round_stored, "to_u16": to_u16, "from_u16": from_u16, "times_u16": times_u16,
            "look_up": look_up, "add_clipped": add_clipped}


def kernel_steps(display: np.ndarray, codes: np.ndarray, plane: np.ndarray) -> dict:
    """Each step as the line does it now."""
    def to_u16() -> None:
        data = np.empty(display.shape, np.uint16)
        for rows in imageio.bands(display.shape[0]):
            kernels.to_u16(display[rows], data[rows])

    def look_up() -> None:
        out = np.empty(codes.shape, np.float32)
        for rows in imageio.bands(codes.shape[0]):
            kernels.look_up(srgb_decode_table(), codes[rows], out[rows])

    return {"round_stored": kernels.round_stored, "to_u16": to_u16, "from_u16": lambda: kernels.from_u16(codes),
            "times_u16": lambda: kernels.times_u16(codes, 1.0 / 65535.0), "look_up": look_up,
            "add_clipped": lambda: kernels.add_clipped(display, plane)}


def timed(step, display: np.ndarray, name: str) -> float:  # noqa: ANN001
    image = display.copy() if name == "round_stored" else None   # rounded in place: a fresh copy, not timed
    start = time.perf_counter()
    step(image) if image is not None else step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        raw = write_dng(Path(folder) / "DSC_00001.dng", render_scene("portrait", 6000, 4000, seed=1000), DngMeta())
        display = grade_image(raw, OpContext(preset=load_preset(DEFAULT_FOR_SHOOT["wedding"]), round=1)).image
    codes = imageio.to_u16(display)
    plane = np.subtract(display[..., 1], display[..., 0]) * np.float32(0.2)    # a detail plane's range of values
    ways = {"numpy": numpy_steps(display, codes, plane), "kernels": kernel_steps(display, codes, plane)}
    top, codes_top = display[:64], codes[:64]                                  # numba's first calls, untimed
    kernels.round_stored(top.copy())
    kernels.to_u16(top, np.empty(top.shape, np.uint16))
    kernels.from_u16(codes_top)
    kernels.times_u16(codes_top, 1.0 / 65535.0)
    kernels.look_up(srgb_decode_table(), codes_top, np.empty(codes_top.shape, np.float32))
    kernels.add_clipped(top, plane[:64])
    times = {way: {name: [] for name in CALLS} for way in ways}
    for _ in range(args.rounds):
        for name in CALLS:
            for way, steps in ways.items():
                times[way][name].append(timed(steps[name], display, name))
    result = {"photo": f"{display.shape[1]}x{display.shape[0]}", "rounds": args.rounds,
              "kernels": "c" if kernels.native() else "numpy (no C compiler: both ways are numpy)", "steps": {}}
    per_photo = {way: 0.0 for way in ways}
    for name, calls in CALLS.items():
        medians = {way: statistics.median(times[way][name]) for way in ways}
        for way in ways:
            per_photo[way] += calls * medians[way]
        result["steps"][name] = {"calls_per_photo": calls, "numpy_ms": round(medians["numpy"] * 1000, 1),
                                 "kernels_ms": round(medians["kernels"] * 1000, 1),
                                 "ratio": round(medians["kernels"] / medians["numpy"], 3)}
        print(f"{name:13s} x{calls}  numpy {medians['numpy'] * 1000:7.1f} ms   kernels {medians['kernels'] * 1000:7.1f} ms"
              f"   ratio {medians['kernels'] / medians['numpy']:.3f}")
    result["numpy_s_per_photo"] = round(per_photo["numpy"], 3)
    result["kernels_s_per_photo"] = round(per_photo["kernels"], 3)
    result["per_photo_ratio"] = round(per_photo["kernels"] / per_photo["numpy"], 3)
    print(f"a 24 MP photo's calls: numpy {per_photo['numpy']:.2f} s, kernels {per_photo['kernels']:.2f} s "
          f"(ratio {result['per_photo_ratio']:.3f})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
