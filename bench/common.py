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
JPEG_QUALITY = 92                          # postline, the floor and rawtherapee-cli's default
PEER_PACKAGES = ("darktable", "rawtherapee")


# --- postline -------------------------------------------------------------------------------------
def render_postline(raw_path: Path, preset_name: str, jpeg_out: Path, *, preview: bool = False,
                    calibration: np.ndarray | None = None) -> Path:
    """RAW -> preset -> full-size (or half-size ``preview``) sRGB JPEG, as the grade step renders it;
    ``calibration`` is a session calibration matrix applied right after decoding."""
    from presets.model import load_preset
    from tasks.pixels import calibrate, colour, imageio, tone
    from tasks.pixels.decode import decode

    preset = load_preset(preset_name)
    image = decode(Path(raw_path), preset.decode, half_size=preview)
    if calibration is not None:
        image = calibrate.apply(image, calibration)
    image = tone.apply(image, preset.tone)
    return imageio.write_jpeg(jpeg_out, colour.working_to_display(image), quality=JPEG_QUALITY)


def render_floor(raw_path: Path, jpeg_out: Path, *, demosaic: str = "AHD") -> Path:
    """The floor: LibRaw decode (same demosaic, camera white balance, 8-bit sRGB) + the same JPEG encode."""
    import rawpy

    from tasks.pixels import imageio

    with rawpy.imread(str(raw_path)) as raw:
        rgb8 = raw.postprocess(use_camera_wb=True, output_bps=8,
                               demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, demosaic))
    from PIL import Image
    return imageio.write_jpeg(jpeg_out, Image.fromarray(rgb8), quality=JPEG_QUALITY)


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
        self.rt_env = {**os.environ, "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
                       "XDG_CACHE_HOME": str(self.home / "xdg-cache")}

    def darktable(self, inputs: list[Path], out_dir: Path) -> list[Path]:
        """darktable-cli's default processing (its scene-referred workflow), one JPEG per input."""
        out_dir.mkdir(parents=True, exist_ok=True)
        outs = []
        for src in inputs:   # darktable-cli takes one input file per run
            out = out_dir / f"{Path(src).stem}.jpg"
            out.unlink(missing_ok=True)
            run = subprocess.run(["darktable-cli", str(src), str(out), "--apply-custom-presets", "false",
                                  "--core", "--configdir", str(self.dt_config), "--library", ":memory:"],
                                 capture_output=True, text=True, env=self.rt_env)
            if not out.is_file():
                raise RuntimeError(f"darktable-cli failed on {Path(src).name}: {run.stdout[-400:]} {run.stderr[-400:]}")
            outs.append(out)
        return outs

    def rawtherapee(self, inputs: list[Path], out_dir: Path, *, default_profile: bool = False) -> list[Path]:
        """rawtherapee-cli in one run over all inputs: its built-in (neutral) values, or with
        ``default_profile`` the default raw profile of its preferences (``-d``, what the GUI applies)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        outs = [out_dir / f"{Path(src).stem}.jpg" for src in inputs]
        for out in outs:
            out.unlink(missing_ok=True)
        args = ["rawtherapee-cli", "-o", str(out_dir), "-Y"] + (["-d"] if default_profile else [])
        run = subprocess.run(args + ["-c", *map(str, inputs)], capture_output=True, text=True, env=self.rt_env)
        missing = [o.name for o in outs if not o.is_file()]
        if missing:
            raise RuntimeError(f"rawtherapee-cli did not write {missing}: {run.stdout[-400:]} {run.stderr[-400:]}")
        return outs


# --- reading renders back -------------------------------------------------------------------------
def read_srgb_as_working(path: Path) -> np.ndarray:
    """An 8-bit sRGB JPEG -> linear Rec.2020 float32 (the space calibrate measures in)."""
    from PIL import Image

    from tasks.pixels import calibrate

    with Image.open(path) as img:
        data = np.asarray(img.convert("RGB"), np.float32) / 255.0
    linear = np.where(data <= 0.04045, data / 12.92, ((data + 0.055) / 1.055) ** 2.4).astype(np.float32)
    return linear @ calibrate.SRGB_TO_REC2020.T.astype(np.float32)


def median(values) -> float:
    return float(np.median(np.asarray(list(values), float)))
