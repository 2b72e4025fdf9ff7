"""Frames for the cull's tests, made from real photos: the camera samples decoded, then blurred, smeared,
shifted, re-exposed or with eyes painted shut, and written as files the ingest reads (DNG, JPEG)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from uuid import UUID

import cv2
import numpy as np
import rawpy
from PIL import Image

from tasks.pixels.colour import srgb_encode
from tasks.pixels.metadata import read_metadata
from tasks.synthetic import DngMeta, write_dng
from tests.conftest import sample

# Where the astronaut's eyes are (scikit-image's data.astronaut, 512x512): centres, px.
ASTRONAUT_EYES = ((204, 101), (247, 103))


@lru_cache(maxsize=8)
def _decoded(name: str) -> np.ndarray:
    with rawpy.imread(str(sample(name))) as raw:
        rgb = raw.postprocess(half_size=True, output_bps=16, gamma=(1, 1), no_auto_bright=True, use_camera_wb=True,
                              output_color=rawpy.ColorSpace.sRGB)
    return rgb.astype(np.float32) / 65535.0


def linear(name: str) -> np.ndarray:
    """A camera sample decoded at half size (LibRaw, camera white balance): scene-linear sRGB, float32."""
    return _decoded(name).copy()


def display(scene: np.ndarray) -> np.ndarray:
    return srgb_encode(scene)


def blurred(scene: np.ndarray, sigma: float) -> np.ndarray:
    """Out of focus: a Gaussian blur of ``sigma`` px."""
    return cv2.GaussianBlur(scene, (0, 0), sigma)


def smeared(scene: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Camera shake: the picture smeared ``length`` px along ``angle`` degrees (0 horizontal, 90 vertical)."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1
    turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(scene, -1, kernel / kernel.sum())


def shifted(scene: np.ndarray, share: float, ev: float = 0.0) -> np.ndarray:
    """The next frame of a burst: the camera moved by ``share`` of the width (half that down), exposure + ``ev``."""
    h, w = scene.shape[:2]
    move = np.float32([[1, 0, w * share], [0, 1, h * share / 2]])
    return cv2.warpAffine(scene, move, (w, h), borderMode=cv2.BORDER_REFLECT) * np.float32(2.0 ** ev)


def shut_eyes(picture: np.ndarray, eyes=ASTRONAUT_EYES, rx: int = 10, ry: int = 6) -> np.ndarray:
    """``picture`` (display, float32) with eyelids painted over the eyes centred at ``eyes``: skin from
    under each eye, a lash line along the lid's lower edge."""
    out = picture.copy()
    for cx, cy in eyes:
        skin = np.median(picture[cy + ry + 3:cy + ry + 9, cx - rx:cx + rx].reshape(-1, 3), axis=0)
        lid = np.zeros(picture.shape[:2], np.float32)
        cv2.ellipse(lid, (cx, cy), (rx, ry), 0, 0, 360, 1.0, -1)
        lid = cv2.GaussianBlur(lid, (0, 0), 1.5)[..., None]
        out = out * (1 - lid) + skin * lid
        lash = np.zeros(picture.shape[:2], np.float32)
        cv2.ellipse(lash, (cx, cy - 2), (rx - 2, 4), 0, 20, 160, 1.0, 1)
        lash = 0.6 * cv2.GaussianBlur(lash, (0, 0), 0.7)[..., None]
        out = out * (1 - lash) + 0.25 * skin * lash
    return out.astype(np.float32)


def write_frame(path: Path, scene: np.ndarray, taken: datetime) -> Path:
    """``scene`` (linear sRGB) as a camera DNG taken at ``taken``, at twice its size: the ingest's reduced
    decode takes each 2x2 sensor quad as one pixel, so it measures the picture at the size it was made."""
    big = cv2.resize(np.clip(scene, 0, 1), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    return write_dng(path, big, DngMeta(capture_time=taken))


def write_jpeg(path: Path, picture: np.ndarray, taken: datetime) -> Path:
    """``picture`` (display, float32) as a camera JPEG taken at ``taken``."""
    image = Image.fromarray(np.rint(np.clip(picture, 0, 1) * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0132] = taken.strftime("%Y:%m:%d %H:%M:%S")
    image.save(path, quality=95, exif=exif)
    return path


def camera_jpeg(path: Path, picture_of: Path, *, like: Path | None = None) -> Path:
    """The JPEG a camera writes beside a RAW: ``picture_of``'s picture (LibRaw's rendering, camera white
    balance), with the make, model and capture second of ``like`` (default: the same RAW) in its EXIF."""
    meta = read_metadata(like or picture_of)
    with rawpy.imread(str(picture_of)) as raw:
        rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = meta.camera_make, meta.camera_model
    taken = meta.capture_time.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = taken
    exif.get_ifd(0x8769)[0x9003] = taken
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=92, exif=exif)
    return path


@dataclass
class PausedReview:
    """The review of an order's originals, running in a thread and paused for the decision (a real Prefect run)."""
    runner: threading.Thread
    result: dict                    # "counts": what the review flow returned, once it has
    schema: dict                    # the form the Prefect UI shows, with its pre-filled defaults
    description: str                # the text above the form


def paused_review(order_id: int, *, timeout: float = 120) -> PausedReview:
    """Start the order's review of the originals (flows.original_review) and wait until it waits for the decision."""
    from prefect.client.orchestration import get_client
    from prefect.input import read_flow_run_input

    from flows.original_review import original_review_flow
    from record import work
    from record.db import transaction
    from record.models import ORIGINAL_REVIEW

    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("counts", original_review_flow(order_id)), daemon=True)
    runner.start()
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            assert runner.is_alive() and time.monotonic() < deadline, "the review never waited"
            with transaction() as session:
                order = work.get_order(session, order_id)
            if order.waiting_on == ORIGINAL_REVIEW:
                run = client.read_flow_run(UUID(order.flow_run_id))
                if run.state.is_paused():
                    break
            time.sleep(0.2)
        keyset = run.state.state_details.run_input_keyset
    return PausedReview(runner, result, read_flow_run_input(keyset["schema"], flow_run_id=run.id),
                        read_flow_run_input(keyset["description"], flow_run_id=run.id))
