"""Real order sizes, side by side in one run: orders of 100 and 1,000 distinct synthetic 1 MP DNGs through the
default line (ingest to delivery zip, on a local Prefect server started here, the record on SQLite), and an
order of 24 MP DNGs against the floor.

For each order size, in its own process (as `postline order run` would be):
  line    the order, created and run by the order flow; wall time, the process's peak memory (VmHWM), its
          Prefect task runs (counted on the server: the order's run and its sub-runs), and the bytes it keeps on
          disk after delivery (originals, working files, delivery zip) against its originals' bytes, then again
          after the revision window's removal of working files;
  bare    the same image work on the same files without Prefect or the record, in the same number of threads:
          each file archived with its checksum and metadata and its cull signals measured (ingest), the chart
          search on the first frames, the fused pass of the line's stages with its proofs, previews and master
          (tasks/stages.py, the same code), QC's reads and checks, and delivery's renditions (the recipe's, one
          pass per photo) and package. Anything the line does that the bare run leaves out counts as
          orchestration, so the share below is an upper bound. Run before and after the line, and the two
          averaged (as the floor below): the machine's speed moves over minutes, and a line run between two
          bare runs is compared with the machine as it was around it.
  orchestration_share = 1 - bare wall / line wall: the share of the line's wall time spent outside image work
  (Prefect, the record, planning).

24 MP: ``--big`` DNGs of 6000x4000 through the whole line (ingest to delivery zip), wall time per photo, against
the floor of bench/grade.py (rawpy decode with the preset's demosaic + the same JPEG encode, nothing else, in
as many worker processes): ``line_vs_floor``. The same order's bare run splits it: ``bare_vs_floor`` (the image
work against the floor) and ``line_vs_bare_24mp`` (the line against its own image work).

    python bench/scale.py [--sizes 100 1000] [--big 4] [--workers 2] [--keep DIR]
    python bench/scale.py --sizes --big 12          # the 24 MP order alone

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = (1224, 816)             # 1 MP
BIG = (6000, 4000)              # 24 MP
KINDS = ("portrait", "landscape", "interior")   # not the demo's over-exposed "highkey": QC sends it back
SHOOT = "wedding"


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _cpu() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write_frame(args: tuple[Path, int, tuple[int, int]]) -> int:
    from tasks.synthetic import DngMeta, render_scene, write_dng

    path, index, (width, height) = args
    write_dng(path, render_scene(KINDS[index % len(KINDS)], width, height, seed=1000 + index), DngMeta())
    return path.stat().st_size


def write_frames(folder: Path, count: int, size: tuple[int, int], workers: int) -> list[Path]:
    """``count`` distinct synthetic DNGs (another seed each), kept between runs of the bench with ``--keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"DSC_{i + 1:05d}.dng" for i in range(count)]
    todo = [(p, i, size) for i, p in enumerate(paths) if not p.exists()]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_frame, todo, chunksize=8))
    return paths


def card_of(frames: list[Path], folder: Path) -> Path:
    """A card folder holding these frames (hard links: the order archives its own copies)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for frame in frames:
        os.link(frame, folder / frame.name)
    return folder


# --- the child processes ------------------------------------------------------------------------------------------
def child_line(card: Path, client: str) -> dict:
    """Create and run one order; what it took and what it keeps."""
    from flows.order import order_flow
    from surfaces.actions.orders import create_order
    from tasks.retention import disk_use, folder_bytes, remove_working_files, working_folder

    order = create_order(client=client, shoot=SHOOT, card=card, preset_name=None, due=None, same_card=True)
    start, cpu = time.perf_counter(), _cpu()
    state = order_flow(order.id, return_state=True)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    zip_path = state.result()
    kept = disk_use(order.id)
    folder = working_folder(order.id)
    by_folder = {sub.name: folder_bytes(sub) for sub in folder.iterdir()} if folder.exists() else {}
    remove_working_files(order.id)
    after = disk_use(order.id)
    return {"order_id": order.id, "flow_run_id": str(state.state_details.flow_run_id), "wall": wall,
            "cpu": cpu, "peak_rss": _vm_hwm(), "zip": zip_path, "kept": kept.__dict__, "working_by_folder": by_folder, "after_retention": after.__dict__,
            "preset": order.preset}


def child_bare(card: Path, workers: int) -> dict:
    """The line's image work on ``card`` without Prefect or the record (see the module's docstring)."""
    import tifffile

    from config.line import get_line
    from config.settings import get_settings
    from presets.model import DEFAULT_FOR_SHOOT, Preset, load_preset
    from qc import checks
    from record.models import WorkItem
    from presets.recipe import load_recipe
    from tasks import deliver
    from tasks.calibration import search_charts
    from tasks.deliver_render import Job, Studio, render
    from tasks.files import sha256_of
    from tasks.ingest import _cull_signals, _examine, scan_card
    from tasks.operations import reference_path
    from tasks.pixels import imageio
    from tasks.pixels.cores import share_cores
    from tasks.stages import _Pass, _Start

    from surfaces.actions.orders import create_order

    line, spec = get_line(), get_line().qc_gate
    order_id = create_order(client="Bare", shoot=SHOOT, card=card, preset_name=None, due=None,   # paths only
                            same_card=True).id
    preset = Preset.model_validate_json(load_preset(DEFAULT_FOR_SHOOT[SHOOT]).model_dump_json())  # as recorded
    names = scan_card(card)
    share_cores(workers)                        # as the line's photo pool does before its photos start
    start, cpu = time.perf_counter(), _cpu()
    phases = {}
    def ingest(name: str) -> object:            # each file archived and measured in one go, as ingest_batch does
        photo = _examine(order_id, card, name)
        _cull_signals(photo)
        return photo

    with ThreadPoolExecutor(workers) as pool:
        photos = list(pool.map(ingest, names))
    phases["ingest"] = time.perf_counter() - start
    for _ in search_charts(photos[:get_settings().chart_search], preset, workers):   # as calibrate_session does
        pass
    phases["calibrate"] = time.perf_counter() - start - sum(phases.values())
    fused = _Pass(order_id=order_id, line=line, preset=preset, calibration=None, selects=False)
    settings = get_settings()
    studio = Studio(name=settings.studio_name, artist=settings.artist, copyright=settings.studio_copyright,
                    email=settings.studio_email, phone=settings.studio_phone, website=settings.studio_website,
                    client="Bare", order_id=order_id, order_year=2026)
    recipe, album, jobs = load_recipe(SHOOT), line.makes_album or settings.album_proofs, {}

    def one(args: tuple[int, object]) -> None:
        photo_id, photo = args
        item = WorkItem(order_id=order_id, photo_id=photo_id, stage=line.first.key, round=1, input_path=photo.original_path)
        master = fused._work(_Start(item, Path(photo.original_path), (), line.stages), None, [])
        display = imageio.read_working_tiff(master)                         # QC
        with tifffile.TiffFile(master) as tif:
            icc = bytes(tif.pages[0].tags.get(34675).value)
        sha256_of(master)
        checks.check_icc(icc, imageio.srgb_icc(), spec)
        checks.check_image(display, expected_size=(photo.width, photo.height), spec=spec,
                           neutral_tint=checks.preset_neutral_tint(preset))
        checks.check_look(display, imageio.read_working_tiff(reference_path(order_id, photo_id, 1)), spec)
        del display                 # as the line's QC task lets it go before its delivery task renders
        job = Job(photo_id=photo_id, source_name=photo.source_name, source_sha256=photo.sha256,     # delivery
                  original_path=photo.original_path, master_path=str(master), master_sha256=sha256_of(master))
        jobs[photo_id] = job
        render(order_id, job, recipe, studio, album)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(photos, start=1)))
    phases["pass, QC and renditions"] = time.perf_counter() - start - sum(phases.values())
    order = {"id": order_id, "client": "Bare", "shoot": SHOOT, "due": None, "revision": 0,
             "preset": {"name": preset.name, "version": preset.version}}
    folder = settings.archive_dir / "bare"
    deliver._write(deliver.Delivery(order=order, recipe=recipe, studio=studio, album=album,
                                    jobs=[jobs[i] for i in sorted(jobs)], not_delivered=[], worked={}, folder=folder,
                                    target=folder / "delivery",
                                    numbers={i: n for n, i in enumerate(sorted(jobs), start=1)}), order_id)
    phases["package"] = time.perf_counter() - start - sum(phases.values())
    return {"wall": time.perf_counter() - start, "cpu": _cpu() - cpu, "peak_rss": _vm_hwm(), "phases": phases}


def bare_run(card: Path, env: dict, home: Path, workers: int) -> dict:
    """The bare run of ``card`` in a home of its own, removed after."""
    shutil.rmtree(home, ignore_errors=True)
    try:
        return run_child("bare", card, {**env, "POSTLINE_HOME": str(home)}, "--workers", str(workers))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_child(mode: str, card: Path, env: dict, *extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--card", str(card), *extra],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the Prefect server and what it recorded ----------------------------------------------------------------------
class PrefectServer:
    """`prefect server start` in a folder of its own (its SQLite database there), as `make server` runs it;
    ``settings`` (PREFECT_* variables) over those."""

    def __init__(self, home: Path, settings: dict[str, str] | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api"
        home.mkdir(parents=True, exist_ok=True)
        from surfaces.prefect_env import use_server_settings

        self.env = {**use_server_settings(dict(os.environ)), **(settings or {}), "PREFECT_HOME": str(home),
                    "PREFECT_UI_ENABLED": "false", "PREFECT_API_URL": self.url}
        self.log = open(home / "server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
                                      "127.0.0.1", "--port", str(port)], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)

    def _post(self, path: str, body: dict) -> list | int:
        import httpx

        response = httpx.post(f"{self.url}{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def _runs(self, root_flow_run_id: str) -> list[str]:
        """The order's flow run and every sub-run below it."""
        runs, frontier = {root_flow_run_id}, [root_flow_run_id]
        while frontier:
            children = self._post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": frontier}},
                                                        "limit": 200})
            frontier = [c["id"] for c in children if c["id"] not in runs]
            runs |= set(frontier)
        return sorted(runs)

    def task_runs(self, root_flow_run_id: str) -> int:
        """Task runs of the order's flow run and of every sub-run below it."""
        return self._post("/task_runs/count", {"flow_runs": {"id": {"any_": self._runs(root_flow_run_id)}}})

    def sub_runs(self, root_flow_run_id: str) -> dict[str, float]:
        """Wall seconds of the order run's sub-runs, summed by flow (ingest, stage, qc-gate, delivery...)."""
        runs = [r for r in self._runs(root_flow_run_id) if r != root_flow_run_id]
        totals: dict[str, float] = {}
        for run in self._post("/flow_runs/filter", {"flow_runs": {"id": {"any_": runs}}, "limit": 200}):
            flow = self._post("/flows/filter", {"flows": {"id": {"any_": [run["flow_id"]]}}})[0]["name"]
            totals[flow] = totals.get(flow, 0.0) + (run.get("total_run_time") or 0.0)
        return totals

    def task_seconds(self, root_flow_run_id: str) -> dict[str, float]:
        """Run time of the order's task runs, summed by task (``stage-batch``, ``render-deliveries``...)."""
        runs, totals, offset = self._runs(root_flow_run_id), {}, 0
        while batch := self._post("/task_runs/filter", {"flow_runs": {"id": {"any_": runs}}, "limit": 200,
                                                        "offset": offset}):
            for run in batch:
                name = run["name"].rsplit("-", 1)[0]
                totals[name] = totals.get(name, 0.0) + (run.get("total_run_time") or 0.0)
            offset += len(batch)
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def cpu(self) -> float:
        """CPU seconds the server's processes have used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:          # its process group (it was started in a session of its own)
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=60)
        self.log.close()


# --- the parent ---------------------------------------------------------------------------------------------------
def floor_run(files: list[Path], preset: str, out: Path, workers: int) -> dict:
    """The floor of bench/grade.py on ``files``: rawpy decode with the preset's demosaic + the same JPEG encode, in
    ``workers`` processes splitting the files (one thread each); wall seconds and CPU seconds (all processes)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(REPO / "bench" / "grade.py"), "--worker", "floor", "--preset", preset,
                               "--out", str(out), *map(str, files[i::workers])], env=env, stdout=subprocess.DEVNULL)
             for i in range(workers) if files[i::workers]]
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("a floor worker failed")
        cpu += usage.ru_utime + usage.ru_stime
    return {"wall": time.perf_counter() - start, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000],
                        help="1 MP orders to run (none: only the 24 MP order)")
    parser.add_argument("--big", type=int, default=4, help="24 MP photos in the big order (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="work here and keep it (frames are reused)")
    parser.add_argument("--child", choices=("line", "bare"))
    parser.add_argument("--card", type=Path)
    parser.add_argument("--client")
    args = parser.parse_args()
    if args.child:                  # first thing, as `postline` does (tasks/pixels/memory.py)
        from tasks.pixels.memory import keep_freed_memory

        keep_freed_memory()
    if args.child == "line":
        print(json.dumps(child_line(args.card, args.client)))
        return
    if args.child == "bare":
        print(json.dumps(child_bare(args.card, args.workers)))
        return

    work = args.keep or Path(tempfile.mkdtemp(prefix="postline-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    server = PrefectServer(work / "prefect")
    try:
        results = measure(args, work, server)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results)


def measure(args: argparse.Namespace, work: Path, server: PrefectServer) -> dict:
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    env = {**server.env, "POSTLINE_HOME": str(home), "POSTLINE_WORKERS": str(args.workers)}
    env.pop("POSTLINE_DATABASE_URL", None)
    frames = write_frames(work / "frames-1mp", max(args.sizes), SMALL, args.workers) if args.sizes else []
    results: dict = {"sizes": {}}
    for n in sorted(args.sizes):
        card = card_of(frames[:n], work / f"card-{n}")
        originals = sum(p.stat().st_size for p in card.iterdir())
        bares = [bare_run(card, env, work / f"bare-{n}", args.workers)]   # before and after the line: the
        server_cpu = server.cpu()                                           # machine's speed moves over minutes
        line = run_child("line", card, env, "--client", f"Scale {n}")
        line["server_cpu"] = server.cpu() - server_cpu
        bares.append(bare_run(card, env, work / f"bare-{n}", args.workers))
        bare = {"wall": sum(b["wall"] for b in bares) / 2, "cpu": sum(b["cpu"] for b in bares) / 2,
                "walls": [b["wall"] for b in bares], "phases": bares[0]["phases"]}
        results["sizes"][n] = {"line": line, "bare": bare, "originals": originals,
                               "task_runs": server.task_runs(line["flow_run_id"]),
                               "sub_runs": server.sub_runs(line["flow_run_id"])}
        print(f"{n} photos: line {line['wall']:.1f} s, bare {bare['wall']:.1f} s (before and after the line: "
              f"{bares[0]['wall']:.1f}, {bares[1]['wall']:.1f})", flush=True)
        print("  line's sub-runs: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["sizes"][n]["sub_runs"].items())
              + "; bare: " + ", ".join(f"{k} {v:.1f} s" for k, v in bare["phases"].items()), flush=True)
    if args.big:
        files = write_frames(work / "frames-24mp", args.big, BIG, args.workers)
        card = card_of(files, work / "card-24mp")
        preset = "bright-wedding"                   # what a wedding order is graded with (DEFAULT_FOR_SHOOT)
        floors = [floor_run(files, preset, work / "floor", args.workers)]   # before and after the line: the
        bares = [bare_run(card, env, work / "bare-24mp", args.workers)]      # machine is shared, its load moves
        server_cpu = server.cpu()
        line = run_child("line", card, env, "--client", "Scale 24 MP")
        line["server_cpu"] = server.cpu() - server_cpu
        bares.append(bare_run(card, env, work / "bare-24mp", args.workers))
        floors.append(floor_run(files, preset, work / "floor", args.workers))
        n = len(files)
        results["big"] = {"line": line, "n": n, "originals": sum(p.stat().st_size for p in files),
                          "task_seconds": server.task_seconds(line["flow_run_id"]),
                          "floor_per_photo": sum(f["wall"] for f in floors) / len(floors) / n,
                          "floor_cpu_per_photo": sum(f["cpu"] for f in floors) / len(floors) / n,
                          "bare_per_photo": sum(b["wall"] for b in bares) / len(bares) / n,
                          "bare_cpu_per_photo": sum(b["cpu"] for b in bares) / len(bares) / n,
                          "bare_phases": bares[0]["phases"]}
        walls = ", ".join(f"{run['wall'] / n:.2f}" for run in floors)
        bare_walls = ", ".join(f"{run['wall'] / n:.2f}" for run in bares)
        print(f"24 MP: line {line['wall'] / n:.2f} s/photo, bare {results['big']['bare_per_photo']:.2f} s/photo "
              f"(before and after: {bare_walls}), floor {results['big']['floor_per_photo']:.2f} s/photo "
              f"(before and after: {walls})", flush=True)
    return results


def report(results: dict) -> None:
    sizes = results["sizes"]
    rows, summary = [], {}
    for n, r in sorted(sizes.items()):
        line, bare = r["line"], r["bare"]
        kept = sum(line["kept"].values())
        after = sum(line["after_retention"].values())
        share = 1 - bare["wall"] / line["wall"]
        share_cpu = 1 - bare["cpu"] / (line["cpu"] + line["server_cpu"])
        rows.append((n, line["wall"] / n, bare["wall"] / n, share, share_cpu, line["peak_rss"] / 2**20, r["task_runs"],
                     kept / n / 1e6, r["originals"] / n / 1e6, kept / r["originals"], after / r["originals"]))
        summary[n] = {"s_per_photo": line["wall"] / n, "bare_s_per_photo": bare["wall"] / n,
                      "orchestration_share": share, "orchestration_share_cpu": share_cpu,
                      "cpu_s_per_photo": line["cpu"] / n, "server_cpu_s_per_photo": line["server_cpu"] / n,
                      "bare_cpu_s_per_photo": bare["cpu"] / n, "peak_mem_mb": line["peak_rss"] / 2**20,
                      "task_runs": r["task_runs"], "disk_ratio": kept / r["originals"],
                      "line_sub_runs_s": r["sub_runs"], "bare_phases_s": bare["phases"],
                      "disk_ratio_after_retention": after / r["originals"],
                      "kept_mb_per_photo": {k: v / 1e6 / n for k, v in line["kept"].items()},
                      "working_mb_per_photo": {k: v / 1e6 / n for k, v in line["working_by_folder"].items()}}
    if rows:
        print()
        print(f"{'photos':>7} {'s/photo':>8} {'bare':>7} {'orch.':>6} {'(cpu)':>6} {'peak MB':>8} {'tasks':>6} "
              f"{'MB/photo':>9} {'orig MB':>8} {'disk x':>7} {'after window x':>15}")
    for row in rows:
        print(f"{row[0]:>7} {row[1]:>8.3f} {row[2]:>7.3f} {row[3]:>6.1%} {row[4]:>6.1%} {row[5]:>8.0f} {row[6]:>6} "
              f"{row[7]:>9.2f} {row[8]:>8.2f} {row[9]:>7.2f} {row[10]:>15.2f}")
    out: dict = {}
    if sizes:
        small, large = min(sizes), max(sizes)
        out = {"orchestration_share": summary[large]["orchestration_share"],
               "orchestration_share_cpu": summary[large]["orchestration_share_cpu"],
               "peak_mem_ratio": summary[large]["peak_mem_mb"] / summary[small]["peak_mem_mb"],
               f"task_runs_{small}": summary[small]["task_runs"], f"task_runs_{large}": summary[large]["task_runs"],
               "disk_ratio": summary[large]["disk_ratio"],
               "disk_ratio_after_retention": summary[large]["disk_ratio_after_retention"],
               "sizes": summary}
    if "big" in results:
        big = results["big"]
        per_photo = big["line"]["wall"] / big["n"]
        line_cpu = (big["line"]["cpu"] + big["line"]["server_cpu"]) / big["n"]
        out |= {"line_vs_floor": per_photo / big["floor_per_photo"], "line_24mp_s_per_photo": per_photo,
                "floor_24mp_s_per_photo": big["floor_per_photo"],
                "line_vs_floor_cpu": line_cpu / big["floor_cpu_per_photo"], "line_24mp_cpu_s_per_photo": line_cpu,
                "floor_24mp_cpu_s_per_photo": big["floor_cpu_per_photo"],
                "bare_24mp_s_per_photo": big["bare_per_photo"], "bare_24mp_cpu_s_per_photo": big["bare_cpu_per_photo"],
                "bare_vs_floor": big["bare_per_photo"] / big["floor_per_photo"],
                "line_vs_bare_24mp": per_photo / big["bare_per_photo"],
                "bare_24mp_phases_s_per_photo": {k: round(v / big["n"], 3) for k, v in big["bare_phases"].items()},
                "disk_ratio_24mp": sum(big["line"]["kept"].values()) / big["originals"],
                "task_s_per_24mp_photo": {k: round(v / big["n"], 3) for k, v in big["task_seconds"].items()},
                "peak_mem_24mp_mb": big["line"]["peak_rss"] / 2**20}
        print(f"\n24 MP: whole line {per_photo:.2f} s/photo, floor {big['floor_per_photo']:.2f} s/photo: "
              f"{out['line_vs_floor']:.2f}x (CPU {line_cpu:.2f} s against {big['floor_cpu_per_photo']:.2f} s: "
              f"{out['line_vs_floor_cpu']:.2f}x); disk kept {out['disk_ratio_24mp']:.2f}x the originals")
        print(f"  the same image work without Prefect or the record (bare): {big['bare_per_photo']:.2f} s/photo, "
              f"{out['bare_vs_floor']:.2f}x the floor; the line {out['line_vs_bare_24mp']:.2f}x the bare run")
        print("  task run time per photo: " + ", ".join(f"{k} {v:.2f} s" for k, v in
                                                       out["task_s_per_24mp_photo"].items() if v >= 0.01))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
