"""OpenCV's own threads, one per core (OpenCV's default) against postline's share of the cores, side by side.

postline works a photo per core (``POSTLINE_WORKERS`` photo threads) and gives OpenCV's calls the cores left for
each photo worked at once (``tasks/pixels/cores.py``: on two cores with two photo threads, one thread a call).
Each round runs, once with ``OPENCV_FOR_THREADS_NUM`` set to the machine's cores (OpenCV's default, which
postline then leaves as it is) and once without (postline's share), alternately, each in a process of its own
and a fresh postline home, as bench/scale.py does:

- the bare image work (bench/scale.py's bare run: ingest, the fused pass, QC and the renditions, the package,
  without Prefect or the record) of ``--photos`` distinct synthetic 1 MP DNGs;
- the same order through the default line, ingest to delivery zip, on a local Prefect server;
- with ``--big N``, the bare image work of N synthetic 24 MP DNGs.

    python bench/cores.py [--rounds 3] [--photos 100] [--big 4] [--workers 2] [--keep DIR]

The last line printed is JSON: each ``*_ratio`` is postline's share's total wall time against OpenCV's default's
(below 1: postline's is faster), with ``*_cpu_ratio`` the same for the order's process CPU time.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from bench.scale import BIG, SMALL, PrefectServer, card_of, run_child, write_frames  # noqa: E402
from tasks.pixels.cores import machine_cores, opencv_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=100, help="1 MP photos in the order")
    parser.add_argument("--big", type=int, default=4, help="24 MP photos in the bare run (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the synthetic frames here between runs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="postline-cores-"))
    frames = args.keep or work
    variants = {"opencv_default": {"OPENCV_FOR_THREADS_NUM": str(machine_cores())}, "postline": {}}
    runs = [("bare", "small"), ("line", "small")] + ([("bare", "big")] if args.big else [])
    times = {(name, mode, size): [] for name in variants for mode, size in runs}
    server = None
    try:
        cards = {"small": card_of(write_frames(frames / "frames-1mp", args.photos, SMALL, args.workers),
                                  work / "card-1mp")}
        if args.big:
            cards["big"] = card_of(write_frames(frames / "frames-24mp", args.big, BIG, args.workers),
                                   work / "card-24mp")
        server = PrefectServer(work / "prefect")
        for index in range(args.rounds):
            for mode, size in runs:
                for name, extra in variants.items():
                    home = work / "home"
                    shutil.rmtree(home, ignore_errors=True)
                    env = {**server.env, "POSTLINE_HOME": str(home), "POSTLINE_WORKERS": str(args.workers), **extra}
                    env.pop("POSTLINE_DATABASE_URL", None)
                    if not extra:
                        env.pop("OPENCV_FOR_THREADS_NUM", None)
                    more = ("--client", f"Round {index + 1}") if mode == "line" else ("--workers", str(args.workers))
                    if mode == "bare":
                        env["PREFECT_API_URL"] = ""
                    result = run_child(mode, cards[size], env, *more)
                    times[(name, mode, size)].append((result["wall"], result["cpu"]))
                print(f"round {index + 1}, {mode} {size}: " + ", ".join(
                    f"{name} {times[(name, mode, size)][-1][0]:.1f} s" for name in variants), flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    shares = {"opencv_default": machine_cores(), "postline": opencv_threads(args.workers)}
    out = {"cores": machine_cores(), "workers": args.workers, "opencv_threads": shares, "rounds": args.rounds}
    for mode, size in runs:
        label = f"{mode}_{'1mp' if size == 'small' else '24mp'}"
        for name in variants:
            walls = [wall for wall, _ in times[(name, mode, size)]]
            print(f"{label:9s} {name:15s} (OpenCV {shares[name]} thread(s) a call): "
                  f"{', '.join(f'{w:.1f}' for w in walls)} s")
        new, old = times[("postline", mode, size)], times[("opencv_default", mode, size)]
        out[f"{label}_ratio"] = round(sum(w for w, _ in new) / sum(w for w, _ in old), 3)
        out[f"{label}_cpu_ratio"] = round(sum(c for _, c in new) / sum(c for _, c in old), 3)
        out[f"{label}_pair_ratios"] = [round(n[0] / o[0], 3) for n, o in zip(new, old)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
