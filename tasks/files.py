"""File handling shared by the tasks: safe names, archive copies with checksums, work paths."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path

from config.settings import get_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, *, max_length: int = 100) -> str:
    """A file name that is safe on every file system and in a zip: ASCII letters, digits, . _ -"""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._") or "photo"
    if len(cleaned) > max_length:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: max_length - len(ext) - 1] + "." + ext) if dot and len(ext) < 10 else cleaned[:max_length]
    return cleaned


def copy_with_checksum(source: Path, target_dir: Path, *, chunk: int = 1 << 20) -> tuple[Path, str, int]:
    """Copy ``source`` into ``target_dir`` as ``<sha256[:16]>-<safe name>``, read-only, and verify the copy.
    Returns (path, sha256, size). Content-keyed: copying the same bytes twice writes once."""
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = target_dir / f".incoming-{os.getpid()}-{safe_name(source.name)}"
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        while block := src.read(chunk):
            digest.update(block)
            dst.write(block)
            size += len(block)
        dst.flush()
        os.fsync(dst.fileno())
    sha = digest.hexdigest()
    final = target_dir / f"{sha[:16]}-{safe_name(source.name)}"
    if final.exists() and sha256_of(final) == sha:
        tmp.unlink()
    else:
        if sha256_of(tmp) != sha:
            tmp.unlink()
            raise OSError(f"{source.name}: the archive copy does not match the card file; check the disk")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, final)
    return final, sha, size


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def archive_dir(order_id: int) -> Path:
    return get_settings().archive_dir / f"order-{order_id}" / "originals"


def work_path(order_id: int, stage: str, photo_id: int, round: int, suffix: str = ".tif") -> Path:
    return get_settings().work_dir / f"order-{order_id}" / stage / f"{photo_id}-r{round}{suffix}"
