"""What a delivery removes after its package is verified, one file at a time against several at a time.

After the package is written, read back and recorded, the delivery removes what can be had again
(tasks/deliver._tidy): the renditions made for the package (it holds them) and the finished files of the photos
no person worked on (made again from the original if ever needed). For a 1 MP order that is, for each photo, its
master and six renditions; bench/scale.py's 300-photo order of 2026-11-30 removed 1,722 MB this way, 5.7 MB a photo.

Each round writes that set of files for ``--photos`` photos (random bytes, as incompressible as the compressed
files they stand for), flushes them to the disk, waits, then removes them: once one at a time (``at_once=1``, as
the delivery did before) and once as the delivery does (tasks/files.remove_files), alternately, on the disk of
``--dir`` (by default the system's temporary folder; put it on the disk POSTLINE_HOME is on).

    python bench/tidy.py [--photos 300] [--rounds 3] [--dir DIR]

The last line printed is JSON: ``ratio`` is the total wall time of the delivery's way against one at a time
(below 1: faster), with each round's pair.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from tasks.files import remove_files  # noqa: E402

# A 1 MP photo's files as bench/scale.py's order leaves them for the tidy: the Zstandard master, then the
# recipe's renditions (print TIFF, client full size and web, proof, social, contact-sheet cell).
SIZES = (4_400_000, 1_030_000, 66_000, 66_000, 42_000, 38_000, 20_000)


def write_set(folder: Path, photos: int) -> list[Path]:
    folder.mkdir(parents=True)
    blocks = {size: os.urandom(size) for size in SIZES}
    paths = []
    for photo in range(photos):
        for index, size in enumerate(SIZES):
            path = folder / f"photo-{photo:05d}-{index}.bin"
            path.write_bytes(blocks[size])
            paths.append(path)
    os.sync()
    time.sleep(2)       # as after the package: the files are long written when the delivery removes them
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="postline-tidy-", dir=args.dir))
    ways = {"one_at_a_time": 1, "postline": 8}
    walls: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for index in range(args.rounds):
            for name, at_once in ways.items():
                paths = write_set(work / f"{name}-{index}", args.photos)
                start = time.perf_counter()
                freed = remove_files(paths, at_once=at_once)
                walls[name].append(time.perf_counter() - start)
                assert freed == args.photos * sum(SIZES) and not any(p.exists() for p in paths)
            print(f"round {index + 1}: " + ", ".join(f"{name} {walls[name][-1]:.2f} s" for name in ways), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"photos": args.photos, "files": args.photos * len(SIZES),
                      "mb": round(args.photos * sum(SIZES) / 1e6), "rounds": args.rounds, "at_once": ways["postline"],
                      "one_at_a_time_s": [round(w, 3) for w in walls["one_at_a_time"]],
                      "postline_s": [round(w, 3) for w in walls["postline"]],
                      "ratio": round(sum(walls["postline"]) / sum(walls["one_at_a_time"]), 3),
                      "pair_ratios": [round(n / o, 3) for n, o in zip(walls["postline"], walls["one_at_a_time"])]}))


if __name__ == "__main__":
    main()
