"""The cull's grouping (qc/cull.py, _groups: bursts, near-duplicates joined only when alike to a whole group) over
a big order, side by side with a small one in the same run: seconds per frame at 300 frames and at 3,000, and
their ratio (1 when the grouping grows with the frames, 10 when it grows with their square).

Each order is a product shoot, the worst case for near-duplicates: every frame a few bits (0 to 4) from one of
five products' hashes, shot three seconds apart by one body, plus a burst of eight frames every hundred (0.4 s
apart, drifting 3 bits a frame). The first version of the complete-link grouping compared the same groups again
and again: 800 frames of four alike pictures took 5.8 s.

    python bench/cull_groups.py [--rounds N]

The last line printed is JSON; ``per_frame_ratio`` is seconds per frame at 3,000 over seconds per frame at 300.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.line import CullSpec  # noqa: E402
from qc.cull import _groups  # noqa: E402


def order(frames: int, seed: int) -> tuple[list, list, list]:
    """The frames (as _groups takes them: signals with a hash), their capture times and bodies."""
    rng = random.Random(seed)
    products = [rng.getrandbits(64) for _ in range(5)]
    hashes, times = [], []
    start = datetime(2026, 6, 20, 10, 0, 0)
    clock = start
    while len(hashes) < frames:
        if len(hashes) % 100 == 99:                     # a burst: eight frames drifting 3 bits each
            h = rng.getrandbits(64)
            for _ in range(min(8, frames - len(hashes))):
                hashes.append(h)
                times.append(clock)
                h ^= sum(1 << b for b in rng.sample(range(64), 3))
                clock += timedelta(seconds=0.4)
            continue
        h = products[len(hashes) % 5]
        for b in rng.sample(range(64), rng.randint(0, 4)):
            h ^= 1 << b
        hashes.append(h)
        times.append(clock)
        clock += timedelta(seconds=3)
    return [(None, SimpleNamespace(phash=f"{h:016x}")) for h in hashes], times, ["body"] * frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spec = CullSpec()
    sizes = {"small": 300, "big": 3000}
    made = {name: order(n, seed=n) for name, n in sizes.items()}
    seconds: dict[str, list[float]] = {name: [] for name in sizes}
    groups = {}
    for round_ in range(args.rounds):
        for name in (sizes if round_ % 2 == 0 else reversed(list(sizes))):   # alternate: a noisy moment hits both
            frames, times, bodies = made[name]
            started = time.perf_counter()
            groups[name] = _groups(frames, spec, times, bodies)
            seconds[name].append(time.perf_counter() - started)
    per_frame = {name: statistics.median(seconds[name]) / sizes[name] for name in sizes}
    for name, n in sizes.items():
        found = groups[name]
        print(f"{n:>5} frames: {statistics.median(seconds[name]):.3f} s ({per_frame[name] * 1e6:.0f} us a frame), "
              f"{len(found)} groups, largest {max(map(len, found))}")
    print(json.dumps({"small_frames": sizes["small"], "big_frames": sizes["big"],
                      "seconds_small": round(statistics.median(seconds["small"]), 4),
                      "seconds_big": round(statistics.median(seconds["big"]), 4),
                      "per_frame_ratio": round(per_frame["big"] / per_frame["small"], 2)}))


if __name__ == "__main__":
    main()
