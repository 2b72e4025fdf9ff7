"""Delivery: seconds per photo for every rendition of a recipe made in one pass from one decode of the photo's
master, against each rendition made on its own from the master (what an export per size does).

    python bench/deliver.py [--recipe wedding] [--rounds 5] [--modern-mp 24]

Masters: the real camera RAW files in ../shared/samples/raw (5 cameras, 1.3 to 5 MP), each graded with the
shoot's preset (tasks/pixels/render.py) into the 16-bit working TIFF the line's last stage hands to delivery
(tasks/pixels/imageio.py); plus the same masters enlarged to ``--modern-mp`` megapixels (a 24 MP camera's
size; real photo content, interpolated) on a second line.

Both contenders run the product's code (tasks/deliver_render.py) and write the files to a temporary folder:
- one pass: read the master once (checked against its checksum, as delivery always does) and the original's
  metadata once, decode once, make every rendition (tasks/pixels/renditions.py: largest first, each from the
  smallest size already made), stamp each;
- separate: for each rendition, read the master (checked), the original's metadata, decode, make that rendition,
  stamp it.
Rounds interleave the two (one pass, separate, one pass, ...): the seconds per photo are medians over the rounds of
the mean over the photos, and the ratio is the median of each round's own ratio (the machine's load drifts between
rounds more than within one). CPU seconds (this process, all its threads) are given beside the wall clock: other
work on the machine slows the wall clock much more than it changes them. The last line printed is JSON;
``load_avg_1m`` tells how busy the machine was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)          # as bench/queue.py: this folder first would shadow the standard library's `queue`

from bench.common import SAMPLES  # noqa: E402

CHECKSUMS: dict[Path, str] = {}
CAMERAS = ["canon_eos_d30.crw", "canon_powershot_g2.crw", "canon_powershot_s40.crw", "nikon_d1.nef",
           "kodak_dc120.kdc"]


def make_masters(folder: Path, preset_name: str, modern_mp: float) -> tuple[list[tuple[Path, Path]], list]:
    """(master, original) pairs: the cameras' own sizes, and enlarged to ``modern_mp`` megapixels."""
    import cv2
    import numpy as np

    from presets.model import OutputSpace, load_preset
    from tasks.pixels import imageio
    from tasks.pixels.render import render_image

    preset = load_preset(preset_name)
    native, modern = [], []
    for name in CAMERAS:
        original = SAMPLES / name
        display = render_image(original, preset, dtype=np.uint16, space=OutputSpace.SRGB).astype(np.float32) / 65535
        native.append((imageio.write_working_tiff(folder / f"{name}.tif", display), original))
        height, width = display.shape[:2]
        scale = (modern_mp * 1e6 / (width * height)) ** 0.5
        big = cv2.resize(display, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
        modern.append((imageio.write_working_tiff(folder / f"{name}-{modern_mp:g}mp.tif", np.clip(big, 0, 1)),
                       original))
    for master, _ in native + modern:
        CHECKSUMS[master] = hashlib.sha256(master.read_bytes()).hexdigest()   # as the last stage recorded it
    return native, modern


def _read_master(master: Path, sha256: str) -> bytes:
    """The master's bytes, checked against its checksum as the delivery does whenever it reads one."""
    data = master.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"{master} changed")
    return data


def one_pass(master: Path, original: Path, recipe, studio, out: Path) -> None:  # noqa: ANN001
    from tasks.deliver_render import make_files
    from tasks.pixels import tags

    data = _read_master(master, CHECKSUMS[master])
    kept = tags.read_original(original, keep_gps=False, keep_serials=False)
    for key, made in make_files(data, kept, studio, recipe, list(recipe.renditions)).items():
        (out / f"{master.stem}-{key}").write_bytes(made)


def separate(master: Path, original: Path, recipe, studio, out: Path) -> None:  # noqa: ANN001
    from tasks.deliver_render import make_files
    from tasks.pixels import tags

    for rendition in recipe.renditions:
        data = _read_master(master, CHECKSUMS[master])
        kept = tags.read_original(original, keep_gps=False, keep_serials=False)
        for key, made in make_files(data, kept, studio, recipe, [rendition]).items():
            (out / f"{master.stem}-{key}").write_bytes(made)


def per_photo(run, pairs, recipe, studio, out: Path) -> tuple[float, float]:  # noqa: ANN001
    """(wall seconds, CPU seconds of this process, all its threads) per photo."""
    wall, cpu = time.perf_counter(), time.process_time()
    for master, original in pairs:
        run(master, original, recipe, studio, out)
    return (time.perf_counter() - wall) / len(pairs), (time.process_time() - cpu) / len(pairs)


def measure(pairs, recipe, studio, rounds: int, out: Path) -> dict:  # noqa: ANN001
    """Rounds of one pass then separate, back to back; the ratio is taken within each round (the machine's load
    drifts between rounds more than within one), its median reported, with the medians of the times."""
    per_photo(one_pass, pairs[:1], recipe, studio, out)            # warm: imports, cascades, fonts, LUTs
    wall: dict[str, list[float]] = {"one_pass": [], "separate": []}
    cpu: dict[str, list[float]] = {"one_pass": [], "separate": []}
    for _ in range(rounds):
        for name, run in (("one_pass", one_pass), ("separate", separate)):
            seconds, used = per_photo(run, pairs, recipe, studio, out)
            wall[name].append(seconds)
            cpu[name].append(used)
    ratios = [o / s for o, s in zip(wall["one_pass"], wall["separate"])]
    cpu_ratios = [o / s for o, s in zip(cpu["one_pass"], cpu["separate"])]
    return {"one_pass_s_per_photo": round(statistics.median(wall["one_pass"]), 3),
            "separate_s_per_photo": round(statistics.median(wall["separate"]), 3),
            "one_pass_vs_separate": round(statistics.median(ratios), 3),
            "cpu_one_pass_s_per_photo": round(statistics.median(cpu["one_pass"]), 3),
            "cpu_separate_s_per_photo": round(statistics.median(cpu["separate"]), 3),
            "cpu_one_pass_vs_separate": round(statistics.median(cpu_ratios), 3),
            "ratio_per_round": [round(r, 3) for r in ratios]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="wedding")
    parser.add_argument("--preset", default="bright-wedding")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modern-mp", type=float, default=24.0)
    args = parser.parse_args()

    from config.recipe import load_recipe
    from tasks.deliver_render import Studio

    recipe = load_recipe(args.recipe)
    studio = Studio(name="Bench Studio", artist="Bench Studio", copyright="© {year} Bench Studio",
                    email="bench@studio.example", phone="+1 555 0100", website="https://studio.example",
                    client="Anna & Ben", order_id=1, order_year=2026)
    with tempfile.TemporaryDirectory(prefix="postline-bench-deliver-") as tmp:
        folder, out = Path(tmp) / "masters", Path(tmp) / "out"
        folder.mkdir()
        out.mkdir()
        native, modern = make_masters(folder, args.preset, args.modern_mp)
        sizes = {}
        import tifffile

        for label, pairs in (("native", native), ("modern", modern)):
            shapes = [tifffile.TiffFile(m).pages[0].shape for m, _ in pairs]
            sizes[label] = round(statistics.mean(h * w for h, w, _ in shapes) / 1e6, 2)
        results = {label: measure(pairs, recipe, studio, args.rounds, out) for label, pairs in
                   (("native", native), ("modern", modern))}
    print(f"recipe {recipe.name}: {', '.join(r.key for r in recipe.renditions)}; {len(CAMERAS)} real camera files; "
          f"medians of {args.rounds} rounds")
    print(f"{'masters':26} {'MP':>5} {'one pass s/photo':>17} {'separate s/photo':>17} {'ratio':>6} {'CPU ratio':>10}")
    for label, caption in (("native", "cameras' own sizes"), ("modern", f"enlarged to {args.modern_mp:g} MP")):
        r = results[label]
        print(f"{caption:26} {sizes[label]:>5} {r['one_pass_s_per_photo']:>17.3f} {r['separate_s_per_photo']:>17.3f} "
              f"{r['one_pass_vs_separate']:>6.3f} {r['cpu_one_pass_vs_separate']:>10.3f}")
    native, modern = results["native"], results["modern"]
    print(json.dumps({
        "recipe": recipe.name, "renditions": [r.key for r in recipe.renditions], "photos": len(CAMERAS),
        "megapixels": sizes["native"], **{k: v for k, v in native.items()},
        "modern_megapixels": sizes["modern"], **{f"modern_{k}": v for k, v in modern.items()},
        "rounds": args.rounds, "load_avg_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
