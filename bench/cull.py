"""The cull's cost, side by side with grading the same photo: per 24 MP photo, the time to measure its cull
signals at ingest (tasks.pixels.cull.measure: the small picture, faces and eyes, blur where the subject is,
exposure, the perceptual hash) against the time to grade it.

Contenders, each on every photo, in this one process (warm: one untimed round first), one photo at a time,
their order rotating each round so a noisy neighbour hits all alike:
  grade         the line's Cull & grade stage on the photo (tasks.operations.grade: RAW decode, the preset, the
                16-bit working TIFF, the proof and the graded reference): what the cull is a fraction of;
  render        the photo graded to a full-size JPEG (bench.common.render_postline, bench/grade.py's postline);
  cull          the cull's signals of a DNG as bench/grade.py writes it: no embedded preview, so the picture
                comes from the sensor data (tasks/pixels/preview.py);
  cull_preview  the same photo with a full-size JPEG preview embedded, as cameras write their RAW files: the
                picture comes from the preview.

Sets: synthesized 24-megapixel DNGs (6000x4000, tasks.synthetic.render_scene: portrait, landscape, interior,
highkey; 2 with --quick), and the real camera files in ../shared/samples/raw (cull and grade only: older,
smaller cameras; two embed a preview large enough). Figures are medians over photos and rounds.

    python bench/cull.py [--quick] [--rounds N] [--keep DIR]

The last line printed is JSON; ``cull_vs_grade`` is the cull (no preview) over the grade, 24 MP.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # as bench/grade.py: the repo root, not bench/

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import SAMPLES, median, richest_preset, render_postline  # noqa: E402
from bench.grade import RAW_SUFFIXES, make_synthetic  # noqa: E402

GOAL = 0.1


def embed_preview(dng: Path, out: Path) -> Path:
    """A copy of ``dng`` with a full-size JPEG preview (postline's half-size render, scaled up) in a second IFD
    (NewSubFileType 1, JPEGInterchangeFormat), where cameras put theirs and LibRaw's extract_thumb finds it."""
    import cv2

    from presets.model import load_preset
    from tasks.pixels.render import render_image

    picture = render_image(dng, load_preset("neutral"), preview=True)
    height, width = picture.shape[0] * 2, picture.shape[1] * 2
    buffer = io.BytesIO()
    Image.fromarray(cv2.resize(picture, (width, height), interpolation=cv2.INTER_LINEAR)).save(buffer, "JPEG", quality=90)
    jpeg = buffer.getvalue()
    data = bytearray(dng.read_bytes())
    jpeg_at = len(data) + (-len(data)) % 4
    ifd_at = jpeg_at + len(jpeg) + (-len(jpeg)) % 4
    entries = [(254, 4, 1), (256, 4, width), (257, 4, height), (259, 3, 6), (262, 3, 6), (513, 4, jpeg_at),
               (514, 4, len(jpeg))]
    table = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in entries) + struct.pack("<I", 0)
    data += b"\0" * (jpeg_at - len(data)) + jpeg + b"\0" * (ifd_at - jpeg_at - len(jpeg)) + table
    ifd0 = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd0)[0]
    struct.pack_into("<I", data, ifd0 + 2 + 12 * count, ifd_at)          # IFD0's next IFD: the preview's
    out.write_bytes(bytes(data))
    return out


class Contenders:
    def __init__(self, work: Path, preset_name: str):
        from presets.model import load_preset
        from tasks.operations import OpContext

        self.work, self.preset_name = work, preset_name
        self.ctx = OpContext(preset=load_preset(preset_name), round=1, proof_path=work / "proof.jpg",
                             reference_path=work / "reference.tif")

    def run(self, contender: str, photo: Path) -> tuple[float, float, object]:
        """(wall s, CPU s, what it gave) of one contender on one photo."""
        from tasks.operations import grade
        from tasks.pixels import cull

        wall, cpu = time.perf_counter(), time.process_time()
        result = None
        if contender == "grade":
            grade(photo, self.work / "working.tif", self.ctx)
        elif contender == "render":
            render_postline(photo, self.preset_name, self.work / "render.jpg")
        else:
            result = cull.measure(photo)
        return time.perf_counter() - wall, time.process_time() - cpu, result


def timed(bench: Contenders, plan: list[tuple[str, Path]], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Every (contender, photo) once untimed, then ``rounds`` timed rounds in a rotating order."""
    for contender, photo in plan:
        bench.run(contender, photo)
    out: dict[str, dict[str, list[float]]] = {}
    per_round = {contender: sum(c == contender for c, _ in plan) for contender, _ in plan}
    for r in range(rounds):
        shift = r % len(plan)
        for contender, photo in plan[shift:] + plan[:shift]:
            wall, cpu, result = bench.run(contender, photo)
            entry = out.setdefault(contender, {"wall": [], "cpu": [], "sources": []})
            entry["wall"].append(wall)
            entry["cpu"].append(cpu)
            if result is not None:
                entry["sources"].append(result.source)
        print(f"  round {r + 1}: " + "  ".join(f"{c} {median(v['wall'][-per_round[c]:]):.3f} s" for c, v in out.items()),
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 synthetic 24 MP photos, 2 timed rounds")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 3; 2 with --quick)")
    parser.add_argument("--keep", type=Path, help="keep the photos and outputs in this folder")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    work = args.keep or Path(tempfile.mkdtemp(prefix="postline-cull-"))
    work.mkdir(parents=True, exist_ok=True)
    preset = richest_preset()
    load_before = os.getloadavg()[0]

    plain = make_synthetic(work / "synth", 2 if args.quick else 4)
    with_preview = [embed_preview(p, p.with_name(p.stem + "-preview.dng")) for p in plain]
    real = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in RAW_SUFFIXES)
    print(f"{len(plain)} synthetic 24 MP DNGs (and each with a preview), {len(real)} real files; preset '{preset}'; "
          f"{os.cpu_count()} cores; work in {work}", flush=True)

    bench = Contenders(work, preset)
    print("[24mp]", flush=True)
    plan = []
    for photo, camera_like in zip(plain, with_preview):
        plan += [("grade", photo), ("render", photo), ("cull", photo), ("cull_preview", camera_like)]
    big = timed(bench, plan, rounds)
    print("[real]", flush=True)
    small = timed(bench, [(c, p) for p in real for c in ("grade", "cull")], rounds)

    seconds = {c: round(median(v["wall"]), 3) for c, v in big.items()}
    cpu = {c: round(median(v["cpu"]), 3) for c, v in big.items()}
    real_ratio = [c / g for c, g in zip(small["cull"]["wall"], small["grade"]["wall"])]
    final = {
        "goal": GOAL, "rounds": rounds, "photos_24mp": len(plain), "quick": args.quick, "preset": preset,
        "cores": os.cpu_count(), "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cull_vs_grade": round(seconds["cull"] / seconds["grade"], 3),
        "cull_preview_vs_grade": round(seconds["cull_preview"] / seconds["grade"], 3),
        "cull_vs_render": round(seconds["cull"] / seconds["render"], 3),
        "cull_preview_vs_render": round(seconds["cull_preview"] / seconds["render"], 3),
        "cull_cpu_vs_grade_cpu": round(cpu["cull"] / cpu["grade"], 3),
        "real_cull_vs_grade": round(median(real_ratio), 3),
        "seconds_per_photo_24mp": seconds, "cpu_seconds_per_photo_24mp": cpu,
        "real_seconds_per_photo": {c: round(median(v["wall"]), 3) for c, v in small.items()},
        "picture_sources": {c: sorted(set(v["sources"])) for c, v in {**big, "real_cull": small["cull"]}.items()
                            if v["sources"]},
    }
    print(f"\n24 MP, per photo (median s): grade {seconds['grade']:.3f}, render {seconds['render']:.3f}, "
          f"cull {seconds['cull']:.3f} (sensor data), cull {seconds['cull_preview']:.3f} (embedded preview)")
    print(f"cull/grade {final['cull_vs_grade']} (goal <= {GOAL}), with a preview {final['cull_preview_vs_grade']}; "
          f"cull/render {final['cull_vs_render']}, with a preview {final['cull_preview_vs_render']}; "
          f"real files: cull/grade {final['real_cull_vs_grade']}")
    print(json.dumps(final, separators=(",", ":")))


if __name__ == "__main__":
    main()
