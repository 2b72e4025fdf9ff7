"""An order's delivery package: where it lives, what its files are called, and how it is written.

Where: in the archive, by client, year and order (:func:`tasks.files.order_folder`): ``<archive>/<client>/<year>/order-N/``
holds the order's ``originals/`` and one package per delivery, ``delivery/`` (the first) and ``delivery-revK/``
(client revision round K). The client's download link serves the whole package as one ZIP, ``delivery.zip``,
made as it is served from the package's files (tasks/download.py): nothing is stored twice.

What: ``manifest.json`` (every file, its size and SHA-256, see tasks/deliver.py for an entry's fields),
``contact-sheet-NN.jpg`` and ``contact-sheet.pdf``, ``album.pdf`` when the order has album spreads, and one ZIP
per rendition set (``client.zip``, ``print.zip``...; ZIP64, every image stored as it is, not deflated), each
with its own ``manifest.json`` listing its files, so a ZIP that travels alone can be verified too.

Names: each file's name comes from its rendition's template and is cleaned (:func:`clean_name`): no folder
separator, no control character, no leading dot, at most 120 bytes; two names equal after cleaning, or equal
but for case (as Windows and macOS see them), get -2, -3... Nothing can reach outside its ZIP folder.

How: the package is written whole into a hidden folder beside its place (``.delivery.<pid>.tmp``), read back
and verified (tasks/verify.py), and only then renamed into place; a failed write leaves nothing."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tasks.files import sha256_of

MANIFEST = "manifest.json"
MAX_NAME_BYTES = 120
_BAD = re.compile(r"[\x00-\x1f\x7f/\\<>:\"|?*\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
STORED_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".pdf")


def package_name(revision: int) -> str:
    return "delivery" if revision == 0 else f"delivery-rev{revision}"


def zip_path(package: Path, rendition_set: str) -> Path:
    """The ZIP of one rendition set in a package."""
    return package / f"{rendition_set}.zip"


def stored_download(package: Path) -> Path:
    """Where earlier versions of postline stored a package's download ZIP, beside it (now made as it is served)."""
    return package.with_name(f"{package.name}.zip")


def clean_name(text: str) -> str:
    """A file name (no extension) safe in a ZIP and on every file system: Unicode kept (NFC), separators,
    control and bidi characters and Windows' reserved characters replaced with _, no leading dot or space,
    Windows device names (CON, NUL...) prefixed, at most MAX_NAME_BYTES of UTF-8."""
    name = _BAD.sub("_", unicodedata.normalize("NFC", text))
    name = re.sub(r"\s+", "_", name).strip("._ ") or "photo"
    if name.lower().split(".")[0] in _RESERVED:
        name = "_" + name
    return name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip("._ ") or "photo"


@dataclass
class NameBook:
    """The names taken in one ZIP (case-folded, as a case-insensitive file system compares them)."""
    taken: set[str] = field(default_factory=set)

    def claim(self, folder: str, stem: str, extension: str) -> str:
        """``folder/stem.extension``, or ``folder/stem-2.extension``... if that is taken."""
        stem = clean_name(stem)
        candidate, n = f"{folder}/{stem}{extension}", 1
        while candidate.casefold() in self.taken:
            n += 1
            candidate = f"{folder}/{stem}-{n}{extension}"
        self.taken.add(candidate.casefold())
        return candidate


@dataclass(frozen=True)
class Member:
    """A file going into a ZIP: its name there, where its bytes are now, and its manifest entry."""
    zip_set: str
    arcname: str
    source: Path
    entry: dict


def _zip_info(arcname: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))   # fixed: the same files, the same ZIP
    info.compress_type = zipfile.ZIP_STORED if arcname.lower().endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.file_size = size
    return info


def _write_zip(path: Path, members: list[Member], header: dict) -> list[dict]:
    """One rendition set's ZIP (ZIP64 when needed); returns its members' manifest entries (size, sha256 added)."""
    entries = []
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for member in members:
            size = member.source.stat().st_size
            # ZipInfo.file_size set: a member past 4 GiB gets its ZIP64 header (allowZip64: the archive too)
            with open(member.source, "rb") as src, archive.open(_zip_info(member.arcname, size), "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            entries.append({"path": member.arcname, "zip": path.name, "size": size,
                            "sha256": sha256_of(member.source), **member.entry})
        inner = {**header, "files": [{k: v for k, v in e.items() if k != "zip"} for e in entries]}
        archive.writestr(_zip_info(MANIFEST, 0), json.dumps(inner, indent=2, ensure_ascii=False))
    return entries


def _loose(path: Path, kind: str) -> dict:
    return {"path": path.name, "size": path.stat().st_size, "sha256": sha256_of(path), "kind": kind}


def write_package(target: Path, header: dict, members: list[Member], sheets: dict[str, bytes | Path],
                  not_delivered: list[dict], as_before: list[dict] | None = None) -> dict:
    """Write the package at ``target`` (a folder): a ZIP per rendition set of ``members``, the loose ``sheets``
    (file name -> bytes, or the file holding them: contact sheets, album PDF) and manifest.json, all into a temporary folder that is read
    back and verified, then renamed into place (replacing an earlier package of the same delivery). Returns
    the manifest, which lists ``not_delivered`` and, when there are, the photos delivered ``as_before`` (their
    change not made), each with its reason. Raises OSError (EIO) when the written package does not verify."""
    from tasks.verify import verify

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        by_set: dict[str, list[Member]] = {}
        for member in members:
            by_set.setdefault(member.zip_set, []).append(member)
        files, zips = [], []
        for name, in_set in by_set.items():
            path = zip_path(tmp, name)
            entries = _write_zip(path, in_set, header)
            files += entries
            zips.append({**_loose(path, "zip"), "rendition_set": name, "files": len(entries)})
        extras = []
        for name, data in sheets.items():
            if isinstance(data, Path):
                shutil.copyfile(data, tmp / name)
            else:
                (tmp / name).write_bytes(data)
            extras.append(_loose(tmp / name, "album" if name.startswith("album") else "contact_sheet"))
        manifest = {**header, "files": files, "zips": zips, "sheets": extras, "not_delivered": not_delivered,
                    **({"delivered_as_before": as_before} if as_before else {})}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _sync(tmp)
        problems = verify(tmp)
        if problems:
            raise OSError(errno.EIO, f"the delivery package did not read back whole: {problems[0]}", str(tmp))
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stored_download(target).unlink(missing_ok=True)     # an earlier postline's copy of the package, now stale
    return manifest


def _sync(folder: Path) -> None:
    for path in folder.iterdir():
        _sync_file(path)


def _sync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _swap(tmp: Path, target: Path) -> None:
    """``tmp`` becomes ``target``; an earlier ``target`` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}.tmp")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def leftovers(folder: Path) -> list[Path]:
    """Unfinished packages and download ZIPs (and earlier packages moved aside) a killed run left in an order's
    folder."""
    return sorted(folder.glob(".delivery*.tmp")) if folder.is_dir() else []
