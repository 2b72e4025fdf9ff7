"""Shared pieces of the benches: where the samples are, how each contender renders a RAW file to a
JPEG, and how to read a rendered chart back.

``render_postline`` is the one place that says how postline renders; when the fused full-preset
render lands, switch it here and both benches follow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("POSTLINE_SAMPLES", REPO.parent / "shared" / "samples" / "raw"))
JPEG_QUALITY = 92                          # when the preset names none; rawtherapee-cli's default
PEER_PACKAGES = ("darktable", "rawtherapee")


# --- postline -------------------------------------------------------------------------------------
def render_postline(raw_path: Path, preset_name: str, jpeg_out: Path, *, preview: bool = False,
                    calibration: np.ndarray | None = None) -> Path:
    """RAW -> preset -> full-size (or half-size ``preview``) JPEG, as postline renders it;
    ``calibration`` is a session calibration matrix (3x3 or 3x6) on the decoded linear image."""
    from presets.model import load_preset

    preset = load_preset(preset_name)
    try:
        from tasks.pixels.render import render       # the fused full-preset render
    except ImportError:                              # before it: decode, tone, sRGB, JPEG
        from tasks.pixels import calibrate, colour, imageio, tone
        from tasks.pixels.decode import decode

        image = decode(Path(raw_path), preset.decode, half_size=preview)
        if calibration is not None:
            image = calibrate.apply(image, calibration)
        image = tone.apply(image, preset.tone)
        return imageio.write_jpeg(jpeg_out, colour.working_to_display(image), quality=jpeg_quality(preset_name))
    return render(Path(raw_path), Path(jpeg_out), preset, preview=preview, calibration=calibration)


def jpeg_quality(preset_name: str) -> int:
    """The JPEG quality postline writes with this preset (the floor uses the same)."""
    from presets.model import load_preset

    output = getattr(load_preset(preset_name), "output", None)
    return int(getattr(output, "jpeg_quality", JPEG_QUALITY))


def render_floor(raw_path: Path, jpeg_out: Path, *, demosaic: str = "AHD", quality: int = JPEG_QUALITY) -> Path:
    """The floor: LibRaw decode (same demosaic, camera white balance, 8-bit sRGB) + the JPEG encode
    postline uses, and nothing else."""
    import rawpy

    with rawpy.imread(str(raw_path)) as raw:
        rgb8 = raw.postprocess(use_camera_wb=True, output_bps=8,
                               demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, demosaic))
    try:
        from presets.model import OutputSpace
        from tasks.pixels.output import write_jpeg
    except ImportError:
        from PIL import Image

        from tasks.pixels import imageio
        return imageio.write_jpeg(jpeg_out, Image.fromarray(rgb8), quality=quality)
    return write_jpeg(Path(jpeg_out), rgb8, OutputSpace.SRGB, quality=quality)


def richest_preset() -> str:
    """The library preset that changes the most values relative to neutral (ties: by name)."""
    from presets.model import available_presets, load_preset

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    base = dict(leaves(load_preset("neutral").model_dump(mode="json")))
    skip = {"name", "version", "description", "extends", "format"}
    scores = {}
    for name in available_presets():
        values = dict(leaves(load_preset(name).model_dump(mode="json")))
        scores[name] = sum(1 for k, v in values.items() if k not in skip and base.get(k) != v)
    return max(sorted(scores), key=lambda n: scores[n])


# --- the peers ------------------------------------------------------------------------------------
def ensure_peers() -> dict[str, str]:
    """Install darktable and rawtherapee (Debian packages) when their CLIs are missing; return versions."""
    if not (shutil.which("darktable-cli") and shutil.which("rawtherapee-cli")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *PEER_PACKAGES], check=True, env=env)
    dt = subprocess.run(["darktable-cli", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    rt = subprocess.run(["rawtherapee-cli", "-v"], capture_output=True, text=True).stdout
    rt = next((line for line in rt.splitlines() if "version" in line), rt.strip())
    return {"darktable": dt.strip(), "rawtherapee": rt.strip()}


class Peers:
    """darktable-cli and rawtherapee-cli with private, throw-away configuration (headless, as root)."""

    def __init__(self, workdir: Path | None = None):
        self.home = Path(workdir or tempfile.mkdtemp(prefix="postline-peers-"))
        self.dt_config = self.home / "darktable"
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
                    "XDG_CACHE_HOME": str(self.home / "xdg-cache")}

    def darktable_command(self, inputs: list[Path], out_dir: Path) -> list[str]:
        """darktable-cli's default processing (its scene-referred workflow), all inputs in one run."""
        imports = [arg for src in inputs for arg in ("--import", str(src))]
        return ["darktable-cli", *imports, str(out_dir / "$(FILE_NAME)"), "--out-ext", "jpg",
                "--apply-custom-presets", "false", "--core", "--configdir", str(self.dt_config), "--library", ":memory:"]

    def rawtherapee_command(self, inputs: list[Path], out_dir: Path, *, default_profile: bool = False) -> list[str]:
        """rawtherapee-cli in one run over all inputs: its built-in (neutral) values, or with
        ``default_profile`` the default raw profile of its preferences (``-d``, what the GUI applies)."""
        return (["rawtherapee-cli", "-o", str(out_dir), "-Y"] + (["-d"] if default_profile else [])
                + ["-c", *map(str, inputs)])

    def run(self, command: list[str], inputs: list[Path], out_dir: Path) -> list[Path]:
        """Run a peer command; return the JPEGs, raising if any input got none."""
        out_dir.mkdir(parents=True, exist_ok=True)
        outs = [out_dir / f"{Path(src).stem}.jpg" for src in inputs]
        for out in outs:
            out.unlink(missing_ok=True)
        run = subprocess.run(command, capture_output=True, text=True, env=self.env)
        missing = [o.name for o in outs if not o.is_file()]
        if missing:
            raise RuntimeError(f"{command[0]} did not write {missing}: {run.stdout[-400:]} {run.stderr[-400:]}")
        return outs

    def darktable(self, inputs: list[Path], out_dir: Path) -> list[Path]:
        return self.run(self.darktable_command(inputs, out_dir), inputs, out_dir)

    def rawtherapee(self, inputs: list[Path], out_dir: Path, *, default_profile: bool = False) -> list[Path]:
        return self.run(self.rawtherapee_command(inputs, out_dir, default_profile=default_profile), inputs, out_dir)


def timed_run(command: list[str], *, env: dict | None = None) -> tuple[float, int, int, str]:
    """Run ``command``; (wall seconds, its peak resident memory in bytes, return code, stdout)."""
    import time

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return seconds, usage.ru_maxrss * 1024, proc.returncode, out.read().decode(errors="replace")


# --- reading renders back -------------------------------------------------------------------------
def read_srgb_as_working(path: Path) -> np.ndarray:
    """An 8-bit sRGB JPEG -> linear Rec.2020 float32 (the space calibrate measures in)."""
    from PIL import Image

    from tasks.pixels.colour import display_to_working

    with Image.open(path) as img:
        return display_to_working(np.asarray(img.convert("RGB"), np.float32) / 255.0)


def median(values) -> float:
    return float(np.median(np.asarray(list(values), float)))
