"""The working TIFF's two codecs side by side: Deflate (what people pull: Photoshop opens it) and Zstandard (what
only postline reads), both level 1 with the horizontal predictor (tasks/pixels/imageio.py, ``Codec``), writing
and reading one graded 24 MP frame: a synthetic DNG of bench/scale.py's kind, graded with the wedding preset.

    python bench/codecs.py [--repeat 3] [--keep DIR]

Best of ``--repeat`` writes and reads each. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`


def best(repeat: int, action) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from presets.model import load_preset
    from tasks.operations import OpContext, grade_image
    from tasks.pixels import imageio
    from tasks.synthetic import DngMeta, render_scene, write_dng

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="postline-codecs-"))
    folder.mkdir(parents=True, exist_ok=True)
    dng = folder / "frame-24mp.dng"
    if not dng.exists():
        write_dng(dng, render_scene("portrait", 6000, 4000, seed=1000), DngMeta())
    display = grade_image(dng, OpContext(preset=load_preset("bright-wedding"), round=1)).image
    values = imageio.to_u16(display)
    out = {"megapixels": values.shape[0] * values.shape[1] / 1e6, "uncompressed_mb": values.nbytes / 1e6}
    for codec in imageio.Codec:
        path = folder / f"{codec.value}.tif"
        write = best(args.repeat, lambda: imageio.write_working_tiff(path, values, codec=codec))
        read = best(args.repeat, lambda: imageio.read_working_tiff(path))
        out[codec.value] = {"mb": path.stat().st_size / 1e6, "write_s": write, "read_s": read}
        print(f"{codec.value:8} {out[codec.value]['mb']:7.1f} MB  write {write:.2f} s  read {read:.2f} s", flush=True)
    out["zstd_write_speedup"] = out["deflate"]["write_s"] / out["zstd"]["write_s"]
    out["zstd_size_ratio"] = out["zstd"]["mb"] / out["deflate"]["mb"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
