"""Delivery: seconds per photo for every rendition of a recipe made in one pass from one decode of the photo's
master, against each rendition made on its own from the master (what an export per size does).

    python bench/deliver.py [--recipe wedding] [--rounds 5] [--modern-mp 24]

Masters: the real camera RAW files in ../shared/samples/raw (5 cameras, 1.3 to 5 MP), each graded with the
shoot's preset (tasks/pixels/render.py) into the 16-bit working TIFF the line's last stage hands to delivery
(tasks/pixels/imageio.py); plus the same masters enlarged to ``--modern-mp`` megapixels (a 24 MP camera's
size; real photo content, interpolated) on a second line.

Both contenders run the product's code (tasks/deliver_render.py) and write the files to a temporary folder:
- one pass: read the master once and the original's metadata once, decode once, make every rendition
  (tasks/pixels/renditions.py: largest first, each from the smallest size already made), stamp each;
- separate: for each rendition, read the master and the original's metadata, decode, make that rendition,
  stamp it.
Rounds interleave the two (one pass, separate, one pass, ...); the figure per photo is the median over the
rounds of the mean over the photos. The last line printed is JSON; ``load_avg_1m`` tells how busy the machine was.
"""

from __future__ import annotations

import argparse
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
    return native, modern


def one_pass(master: Path, original: Path, recipe, studio, out: Path) -> None:  # noqa: ANN001
    from tasks.deliver_render import make_files
    from tasks.pixels import tags

    kept = tags.read_original(original, keep_gps=False, keep_serials=False)
    for key, data in make_files(master.read_bytes(), kept, studio, recipe, list(recipe.renditions)).items():
        (out / f"{master.stem}-{key}").write_bytes(data)


def separate(master: Path, original: Path, recipe, studio, out: Path) -> None:  # noqa: ANN001
    from tasks.deliver_render import make_files
    from tasks.pixels import tags

    for rendition in recipe.renditions:
        kept = tags.read_original(original, keep_gps=False, keep_serials=False)
        for key, data in make_files(master.read_bytes(), kept, studio, recipe, [rendition]).items():
            (out / f"{master.stem}-{key}").write_bytes(data)


def per_photo(run, pairs, recipe, studio, out: Path) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for master, original in pairs:
        run(master, original, recipe, studio, out)
    return (time.perf_counter() - start) / len(pairs)


def measure(pairs, recipe, studio, rounds: int, out: Path) -> dict:  # noqa: ANN001
    per_photo(one_pass, pairs[:1], recipe, studio, out)            # warm: imports, cascades, fonts, LUTs
    times: dict[str, list[float]] = {"one_pass": [], "separate": []}
    for _ in range(rounds):
        times["one_pass"].append(per_photo(one_pass, pairs, recipe, studio, out))
        times["separate"].append(per_photo(separate, pairs, recipe, studio, out))
    one, sep = statistics.median(times["one_pass"]), statistics.median(times["separate"])
    return {"one_pass_s_per_photo": round(one, 3), "separate_s_per_photo": round(sep, 3),
            "one_pass_vs_separate": round(one / sep, 3),
            "rounds": {k: [round(v, 3) for v in vs] for k, vs in times.items()}}


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
    print(f"recipe {recipe.name}: {', '.join(r.key for r in recipe.renditions)}; {len(CAMERAS)} real camera files")
    print(f"{'masters':28} {'MP':>6} {'one pass s/photo':>17} {'separate s/photo':>17} {'ratio':>7}")
    for label, caption in (("native", "cameras' own sizes"), ("modern", f"enlarged to {args.modern_mp:g} MP")):
        r = results[label]
        print(f"{caption:28} {sizes[label]:>6} {r['one_pass_s_per_photo']:>17.3f} {r['separate_s_per_photo']:>17.3f} "
              f"{r['one_pass_vs_separate']:>7.3f}")
    print(json.dumps({
        "recipe": recipe.name, "renditions": [r.key for r in recipe.renditions], "photos": len(CAMERAS),
        "megapixels": sizes["native"], "one_pass_s_per_photo": results["native"]["one_pass_s_per_photo"],
        "separate_s_per_photo": results["native"]["separate_s_per_photo"],
        "one_pass_vs_separate": results["native"]["one_pass_vs_separate"],
        "modern_megapixels": sizes["modern"],
        "modern_one_pass_s_per_photo": results["modern"]["one_pass_s_per_photo"],
        "modern_separate_s_per_photo": results["modern"]["separate_s_per_photo"],
        "modern_one_pass_vs_separate": results["modern"]["one_pass_vs_separate"],
        "rounds": args.rounds, "load_avg_1m": round(os.getloadavg()[0], 2),
        "per_round": {k: v["rounds"] for k, v in results.items()}}))


if __name__ == "__main__":
    main()
