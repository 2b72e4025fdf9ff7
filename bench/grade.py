"""Grading speed, side by side in one run: per image, full resolution, RAW to JPEG.

Contenders, each run as its own process(es) over a batch, so start-up is paid once per batch by all:
  postline     the richest style preset of presets/ (``bench.common.render_postline``), in
               ``--workers`` worker processes (one per core by default) splitting the batch;
  floor        rawpy decode with the same demosaic (AHD) + the same JPEG encode, nothing else, the
               same worker processes;
  darktable    ``darktable-cli`` default processing, one run over the batch (it threads itself);
  rawtherapee  ``rawtherapee-cli -o DIR -Y -c FILES`` (its built-in values), one run over the batch;
and postline's half-size preview path, for the preview speedup.

Sets: the real RAW files in ../shared/samples/raw (those every contender reads), and synthesized
24-megapixel DNGs (6000x4000, tasks.synthetic.render_scene, batch of 4; 2 with --quick). One untimed warm-up
round per set (caches, config folders, page cache), then ``--rounds`` timed rounds; the contenders'
order rotates each round so that a noisy neighbour hits everyone alike. Figures are medians over rounds
of (batch wall time / images).

Peak memory: the peak resident set (VmHWM) of a postline worker process on the 24 MP set, over
the size of one image as 16-bit RGB (W*H*3*2 bytes); it includes the interpreter and libraries
(printed separately).

    python bench/grade.py [--quick] [--rounds N] [--workers N] [--keep DIR]

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder would shadow the standard library's `queue` (thread pools import it):
# put the repo root first instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import SAMPLES, Peers, ensure_peers, median, richest_preset, timed_run  # noqa: E402

RAW_SUFFIXES = {".crw", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".kdc", ".raf", ".orf", ".rw2", ".pef"}
SYNTH_W, SYNTH_H = 6000, 4000
SYNTH_KINDS = ("portrait", "landscape", "interior", "highkey")
WORKER_KINDS = ("postline", "preview", "floor")


# --- the worker (a child process) -------------------------------------------------------------
def _vm_hwm() -> int:
    """Peak resident set of this process image, bytes (VmHWM: unlike ru_maxrss it does not inherit
    the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(kind: str, preset: str, out_dir: Path, files: list[Path]) -> None:
    """Render ``files`` one after another; print JSON: in-process seconds per file and memory."""
    from bench.common import jpeg_quality, render_floor, render_postline
    from presets.model import load_preset
    import tasks.pixels.decode  # noqa: F401  (imports are start-up, not rendering)
    try:
        import tasks.pixels.render  # noqa: F401
    except ImportError:
        pass

    from tasks.pixels.memory import keep_freed_memory

    keep_freed_memory()     # every worker, the floor's too, keeps freed buffers as postline's grading does
    demosaic, quality = load_preset(preset).decode.demosaic.value, jpeg_quality(preset)
    baseline = _vm_hwm()
    seconds = []
    for src in files:
        out = out_dir / f"{src.stem}.jpg"
        start = time.perf_counter()
        if kind == "floor":
            render_floor(src, out, demosaic=demosaic, quality=quality)
        else:
            render_postline(src, preset, out, preview=kind == "preview")
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "baseline_rss": baseline, "max_rss": _vm_hwm()}))


def run_workers(kind: str, preset: str, files: list[Path], out_dir: Path, workers: int) -> dict:
    """The batch split round-robin over ``workers`` processes running in parallel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # one process per core: each stays on one thread (the fused pass's threads, BLAS, OpenMP)
    single = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    env = {**os.environ, **single} if workers > 1 else None
    chunks = [files[i::workers] for i in range(workers) if files[i::workers]]
    start = time.perf_counter()
    procs = []
    for chunk in chunks:
        log = tempfile.TemporaryFile()
        cmd = [sys.executable, __file__, "--worker", kind, "--preset", preset, "--out", str(out_dir), *map(str, chunk)]
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    reports, peak = [], 0
    for proc, log in procs:
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} worker failed:\n{text[-2000:]}")
        reports.append(json.loads(text.strip().splitlines()[-1]))
        peak = max(peak, reports[-1]["max_rss"])
    wall = time.perf_counter() - start
    return {"wall": wall, "max_rss": peak, "baseline_rss": max(r["baseline_rss"] for r in reports),
            "in_process": [s for r in reports for s in r["seconds"]]}


# --- the parent -----------------------------------------------------------------------------------
def synthetic_paths(folder: Path, count: int) -> list[Path]:
    return [folder / f"synth_{i + 1}_{SYNTH_KINDS[i % len(SYNTH_KINDS)]}.dng" for i in range(count)]


def make_synthetic(folder: Path, count: int) -> list[Path]:
    """Write the 24 MP DNGs (in a child process, so this one stays small and its size does not
    show in the peers' ru_maxrss)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--make-synthetic", str(count), "--out", str(folder)], check=True)
    return synthetic_paths(folder, count)


def write_synthetic(folder: Path, count: int) -> None:
    from tasks.synthetic import render_scene, write_dng

    for i, path in enumerate(synthetic_paths(folder, count)):
        write_dng(path, render_scene(SYNTH_KINDS[i % len(SYNTH_KINDS)], SYNTH_W, SYNTH_H, seed=i))


class Bench:
    def __init__(self, work: Path, preset: str, workers: int):
        self.work, self.preset, self.workers = work, preset, workers
        self.peers = Peers(work / "peers-home")

    def run(self, contender: str, files: list[Path], tag: str) -> dict:
        out = self.work / tag / contender
        if contender in WORKER_KINDS:
            return run_workers(contender, self.preset, files, out, self.workers)
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            (out / f"{f.stem}.jpg").unlink(missing_ok=True)
        command = (self.peers.darktable_command(files, out) if contender == "darktable"
                   else self.peers.rawtherapee_command(files, out))
        wall, rss, code, text = timed_run(command, env=self.peers.env)
        missing = [f.name for f in files if not (out / f"{f.stem}.jpg").is_file()]
        return {"wall": wall, "max_rss": rss, "missing": missing, "log": text[-600:]}

    def readable(self, files: list[Path], tag: str) -> tuple[list[Path], dict[str, list[str]]]:
        """Warm-up on every file; keep those every contender renders."""
        dropped: dict[str, list[str]] = {}
        keep = list(files)
        for contender in ("postline", "preview", "floor", "darktable", "rawtherapee"):
            if contender in WORKER_KINDS:
                try:
                    run_workers(contender, self.preset, keep, self.work / tag / "warmup" / contender, self.workers)
                    ok = keep
                except RuntimeError:      # find the file(s) LibRaw cannot read, one at a time
                    ok = []
                    for f in keep:
                        try:
                            run_workers(contender, self.preset, [f], self.work / tag / "warmup" / contender, 1)
                            ok.append(f)
                        except RuntimeError:
                            dropped.setdefault(contender, []).append(f.name)
            else:
                missing = set(self.run(contender, keep, f"{tag}-warmup")["missing"])
                ok = [f for f in keep if f.name not in missing]
                if missing:
                    dropped[contender] = sorted(missing)
            keep = ok
        return keep, dropped

    def timed(self, files: list[Path], tag: str, rounds: int, contenders: tuple[str, ...]) -> dict[str, list[dict]]:
        runs: dict[str, list[dict]] = {c: [] for c in contenders}
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for contender in order:
                result = self.run(contender, files, tag)
                if result.get("missing"):
                    raise RuntimeError(f"{contender} missed {result['missing']} in a timed round: {result['log']}")
                runs[contender].append(result)
                print(f"  round {r + 1} {contender:12s} {result['wall'] / len(files):7.2f} s/image", flush=True)
        return runs


def per_image(runs: list[dict], n: int) -> float:
    return median(r["wall"] / n for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 synthetic 24 MP images, 1 timed round")
    parser.add_argument("--rounds", type=int, help="timed rounds per set (default 3; 1 with --quick)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="postline/floor worker processes")
    parser.add_argument("--keep", type=Path, help="keep the synthetic DNGs and the JPEGs in this folder")
    parser.add_argument("--worker", choices=WORKER_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-synthetic", type=int, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.preset, args.out, args.files)
    if args.make_synthetic:
        return write_synthetic(args.out, args.make_synthetic)

    rounds = args.rounds or (1 if args.quick else 3)
    batch = 2 if args.quick else 4
    versions = ensure_peers()
    preset = richest_preset()
    work = args.keep or Path(tempfile.mkdtemp(prefix="postline-grade-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, preset, args.workers)
    print(f"postline preset '{preset}', {args.workers} worker(s); {os.cpu_count()} cores; "
          f"{versions['darktable']}; {versions['rawtherapee']}; work in {work}", flush=True)

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    synth = make_synthetic(work / "synth", batch)
    print(f"wrote {batch} synthetic {SYNTH_W}x{SYNTH_H} DNGs in {time.perf_counter() - start:.1f} s", flush=True)
    real = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in RAW_SUFFIXES)

    contenders = ("postline", "floor", "darktable", "rawtherapee", "preview")
    results = {}
    for tag, files in (("24mp", synth), ("real", real)):
        print(f"[{tag}] warm-up on {len(files)} files", flush=True)
        files, dropped = bench.readable(files, tag)
        for contender, names in dropped.items():
            print(f"  {contender} cannot render {names}: left out of the {tag} set for everyone")
        runs = bench.timed(files, tag, rounds, contenders)
        n = len(files)
        results[tag] = {
            "files": [f.name for f in files], "dropped": dropped,
            "seconds_per_image": {c: round(per_image(runs[c], n), 3) for c in contenders},
            "postline_in_process": round(median(s for r in runs["postline"] for s in r["in_process"]), 3),
            "preview_in_process": round(median(s for r in runs["preview"] for s in r["in_process"]), 3),
            "floor_in_process": round(median(s for r in runs["floor"] for s in r["in_process"]), 3),
            "peak_rss_mb": {c: round(max(r["max_rss"] for r in runs[c]) / 2 ** 20) for c in contenders},
            "worker_baseline_rss_mb": round(max(r["baseline_rss"] for r in runs["postline"]) / 2 ** 20),
        }

    big = results["24mp"]
    s = big["seconds_per_image"]
    image_bytes = SYNTH_W * SYNTH_H * 3 * 2
    peak = big["peak_rss_mb"]["postline"] * 2 ** 20
    final = {
        "preset": preset, "workers": args.workers, "cores": os.cpu_count(), "rounds": rounds,
        "batch_24mp": batch, "quick": args.quick,
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],   # at start, at end: how busy
        "vs_floor": round(s["postline"] / s["floor"], 3),
        "vs_darktable": round(s["postline"] / s["darktable"], 3),
        "vs_rawtherapee": round(s["postline"] / s["rawtherapee"], 3),
        "preview_speedup": round(big["postline_in_process"] / big["preview_in_process"], 2),
        "preview_speedup_batch": round(s["postline"] / s["preview"], 2),
        "peak_mem_ratio": round(peak / image_bytes, 2),
        "peak_mem_ratio_net": round((peak - big["worker_baseline_rss_mb"] * 2 ** 20) / image_bytes, 2),
        "real_vs_floor": round(results["real"]["seconds_per_image"]["postline"] / results["real"]["seconds_per_image"]["floor"], 3),
        "real_vs_darktable": round(results["real"]["seconds_per_image"]["postline"] / results["real"]["seconds_per_image"]["darktable"], 3),
        "real_vs_rawtherapee": round(results["real"]["seconds_per_image"]["postline"] / results["real"]["seconds_per_image"]["rawtherapee"], 3),
        "seconds_per_image": {tag: r["seconds_per_image"] for tag, r in results.items()},
        "sets": results, "peers": versions,
    }
    print("\nper image, median of batch wall / images (s):")
    for tag, r in results.items():
        print(f"  {tag:5s} " + "  ".join(f"{c} {v:.2f}" for c, v in r["seconds_per_image"].items())
              + f"  | in-process postline {r['postline_in_process']:.2f} preview {r['preview_in_process']:.2f}"
              f" floor {r['floor_in_process']:.2f}")
    print(f"24 MP: postline/floor {final['vs_floor']}, /darktable {final['vs_darktable']}, "
          f"/rawtherapee {final['vs_rawtherapee']}; preview x{final['preview_speedup']} faster (in-process); "
          f"worker peak {big['peak_rss_mb']['postline']} MB = {final['peak_mem_ratio']} x the 16-bit image "
          f"({final['peak_mem_ratio_net']} x without the {big['worker_baseline_rss_mb']} MB interpreter + libraries)")
    print(json.dumps(final, separators=(",", ":")))


if __name__ == "__main__":
    main()
