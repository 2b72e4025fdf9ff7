"""Black and white too: what a photo asked for in black and white adds to its delivery. Its files made in one pass
with the recipe's black-and-white twins (wedding: full-bw and web-bw) against the same photo's files without them,
side by side in one run.

    python bench/black_and_white.py [--recipe wedding] [--rounds 3] [--modern-mp 24]

Masters: as bench/deliver.py makes them (the real camera RAW files of ../shared/samples/raw graded with the shoot's
preset, and the same enlarged to ``--modern-mp`` megapixels). Both contenders run the product's code
(tasks/deliver_render.make_files on the master's bytes, as delivery does): the recipe's renditions and the internal
ones (contact thumbnail, the picture shown once the master is gone), with and without the twins. Rounds alternate
the two; seconds per photo are medians over the rounds, and the ratio the median of the rounds' own ratios.
Peak memory: the largest the traced allocations (numpy's arrays included) grew during one photo's files, at the
modern size, with and without. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)          # as bench/queue.py: this folder first would shadow the standard library's `queue`

from bench.deliver import make_masters  # noqa: E402


def files_of(master: Path, recipe, studio, twins: bool) -> dict[str, bytes]:  # noqa: ANN001
    from tasks.deliver_render import internal, make_files
    from tasks.pixels import tags

    return make_files(master.read_bytes(), tags.Kept(), studio, recipe, internal(recipe, False, twins))


def timed(masters: list[Path], recipe, studio, twins: bool) -> tuple[float, float]:  # noqa: ANN001
    """(wall, CPU) seconds per photo."""
    start, cpu = time.perf_counter(), time.process_time()
    for master in masters:
        files_of(master, recipe, studio, twins)
    return (time.perf_counter() - start) / len(masters), (time.process_time() - cpu) / len(masters)


def peak(master: Path, recipe, studio, twins: bool) -> int:  # noqa: ANN001
    tracemalloc.start()
    try:
        files_of(master, recipe, studio, twins)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="wedding")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modern-mp", type=float, default=24.0)
    args = parser.parse_args()

    from presets.recipe import load_recipe
    from tasks.deliver_render import Studio

    recipe = load_recipe(args.recipe)
    studio = Studio(name="Studio", artist="Artist", copyright="© {year} Studio", email="", phone="", website="",
                    client="Client", order_id=1, order_year=2026)
    results = {}
    with tempfile.TemporaryDirectory(prefix="postline-bw-") as tmp:
        preset = {"wedding": "bright-wedding", "portrait": "classic-portrait", "children": "warm-children"}.get(
            args.recipe, "neutral")
        native, modern = make_masters(Path(tmp), preset, args.modern_mp)
        for size, pairs in (("native", native), ("modern", modern)):
            masters = [master for master, _ in pairs]
            rows = []
            for _ in range(args.rounds):
                without = timed(masters, recipe, studio, False)
                with_twins = timed(masters, recipe, studio, True)
                rows.append((without, with_twins))
            results[size] = {
                "without_s": statistics.median(r[0][0] for r in rows),
                "with_s": statistics.median(r[1][0] for r in rows),
                "without_cpu_s": statistics.median(r[0][1] for r in rows),
                "with_cpu_s": statistics.median(r[1][1] for r in rows),
                "ratio": statistics.median(r[1][0] / r[0][0] for r in rows),
                "ratio_cpu": statistics.median(r[1][1] / r[0][1] for r in rows),
            }
            print(f"{size}: {len(masters)} photos, without the twins {results[size]['without_s']:.3f} s a photo, "
                  f"with them {results[size]['with_s']:.3f} s: {results[size]['ratio']:.3f}x "
                  f"(CPU {results[size]['ratio_cpu']:.3f}x)", flush=True)
        biggest = max(modern, key=lambda pair: pair[0].stat().st_size)[0]
        without, with_twins = peak(biggest, recipe, studio, False), peak(biggest, recipe, studio, True)
        print(f"peak traced memory, one {args.modern_mp:g} MP photo: {without / 1e6:.0f} MB without the twins, "
              f"{with_twins / 1e6:.0f} MB with them")
    print(json.dumps({"recipe": recipe.name, "twins": [t.key for t in recipe.twins],
                      "bw_time_ratio_native": round(results["native"]["ratio"], 3),
                      "bw_time_ratio_modern": round(results["modern"]["ratio"], 3),
                      "bw_cpu_ratio_modern": round(results["modern"]["ratio_cpu"], 3),
                      "modern_s_without": round(results["modern"]["without_s"], 3),
                      "modern_s_with": round(results["modern"]["with_s"], 3),
                      "peak_mb_without": round(without / 1e6), "peak_mb_with": round(with_twins / 1e6),
                      "peak_ratio": round(with_twins / without, 3), "load_avg_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
