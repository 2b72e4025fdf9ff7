"""Checking a delivery against its manifest: `postline verify PACKAGE_OR_ZIP`.

A package folder: every file its manifest.json lists (ZIPs, contact sheets, album PDF) is there with its size
and SHA-256; inside each ZIP, every member the manifest lists is there, reads back (CRC) and has its size and
SHA-256, and the ZIP holds nothing else; the folder holds nothing unlisted. A ZIP alone is checked against the
manifest.json it carries (a rendition set's ZIP, or the package's download ZIP: every file of the package). An
order's archive folder: its originals (each still the bytes it was archived with, and every one its deliveries'
manifests name is there) and each of its packages. Every difference is named, one line each; none means the
delivery is whole."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from tasks.files import INCOMING_PREFIX
from tasks.package import MANIFEST


def _read_manifest(text: bytes | str, where: str) -> tuple[dict | None, list[str]]:
    try:
        manifest = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [f"{where}: not a readable manifest ({type(exc).__name__})"]
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return None, [f"{where}: not a postline delivery manifest (no list of files)"]
    return manifest, []


def _members(archive: zipfile.ZipFile, entries: list[dict], label: str) -> list[str]:
    """Differences between a ZIP's members and the manifest's entries for it."""
    problems = []
    names = set(archive.namelist()) - {MANIFEST}
    listed = {e.get("path"): e for e in entries}
    for name in sorted(names - set(listed)):
        problems.append(f"{label}:{name}: in the ZIP but not in the manifest")
    for name, entry in listed.items():
        if name not in names:
            problems.append(f"{label}:{name}: listed in the manifest but missing from the ZIP")
            continue
        digest, size = hashlib.sha256(), 0
        try:
            with archive.open(name) as member:
                while block := member.read(1 << 20):
                    digest.update(block)
                    size += len(block)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            problems.append(f"{label}:{name}: damaged, cannot be read back ({exc})")
            continue
        if size != entry.get("size"):
            problems.append(f"{label}:{name}: {size} bytes, the manifest says {entry.get('size')}")
        if digest.hexdigest() != entry.get("sha256"):
            problems.append(f"{label}:{name}: content differs from the manifest (SHA-256 {digest.hexdigest()[:12]}… "
                            f"instead of {str(entry.get('sha256'))[:12]}…)")
    return problems


def _open_zip(path: Path, label: str) -> tuple[zipfile.ZipFile | None, list[str]]:
    try:
        return zipfile.ZipFile(path), []
    except (zipfile.BadZipFile, OSError) as exc:
        return None, [f"{label}: not a readable ZIP ({exc})"]


def verify_zip(path: Path) -> list[str]:
    """A ZIP alone, against the manifest.json inside it."""
    archive, problems = _open_zip(path, path.name)
    if archive is None:
        return problems
    with archive:
        if MANIFEST not in archive.namelist():
            return [f"{path.name}: holds no {MANIFEST}: not a postline delivery ZIP"]
        manifest, problems = _read_manifest(archive.read(MANIFEST), f"{path.name}:{MANIFEST}")
        if manifest is None:
            return problems
        # a rendition set's ZIP lists its files; a package's download ZIP holds its loose files (sheets) too
        loose = [e for e in manifest.get("sheets", []) if isinstance(e, dict)] if "zips" in manifest else []
        return _members(archive, manifest["files"] + loose, path.name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _file_problems(path: Path, entry: dict) -> list[str]:
    if not path.is_file():
        return [f"{entry['path']}: listed in the manifest but missing"]
    size = path.stat().st_size
    problems = []
    if size != entry.get("size"):
        problems.append(f"{entry['path']}: {size} bytes, the manifest says {entry.get('size')}")
    if _sha256(path) != entry.get("sha256"):
        problems.append(f"{entry['path']}: content differs from the manifest")
    return problems


def verify_package(folder: Path) -> list[str]:
    """A package folder, against its manifest.json."""
    path = folder / MANIFEST
    if not path.is_file():
        return [f"{folder}: no {MANIFEST}: not a delivery package (give a package folder or one of its ZIPs)"]
    manifest, problems = _read_manifest(path.read_bytes(), MANIFEST)
    if manifest is None:
        return problems
    loose = list(manifest.get("zips", [])) + list(manifest.get("sheets", []))
    listed = {e.get("path") for e in loose} | {MANIFEST}
    for entry in loose:
        if not isinstance(entry.get("path"), str) or Path(entry["path"]).name != entry["path"]:
            problems.append(f"{entry.get('path')!r}: not a file name of the package folder")
            continue
        problems += _file_problems(folder / entry["path"], entry)
    for extra in sorted(p.name for p in folder.iterdir() if p.name not in listed):
        problems.append(f"{extra}: in the package but not in the manifest")
    for entry in manifest.get("zips", []):
        zip_file = folder / str(entry.get("path"))
        if not zip_file.is_file() or Path(entry["path"]).name != entry["path"]:
            continue
        archive, opened = _open_zip(zip_file, entry["path"])
        problems += opened
        if archive is not None:
            with archive:
                problems += _members(archive, [f for f in manifest["files"] if f.get("zip") == entry["path"]],
                                     entry["path"])
    orphans = {f.get("zip") for f in manifest["files"]} - {z.get("path") for z in manifest.get("zips", [])}
    problems += [f"{name}: the manifest lists files in it but not the ZIP itself" for name in sorted(map(str, orphans))]
    return problems


def is_order_folder(path: Path) -> bool:
    """An order's archive folder (``<archive>/<client>/<year>/order-N``): its originals beside its packages."""
    return (path / "originals").is_dir()


def packages_in(folder: Path) -> list[Path]:
    """The delivery packages of an order's archive folder (``delivery``, ``delivery-rev1``, ...)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def verify_originals(folder: Path, manifests: list[dict]) -> list[str]:
    """An order's archived originals: each file still holds the bytes it was archived with (its name starts with
    their SHA-256, tasks.files.copy_with_checksum), and every original the ``manifests`` name, delivered or not,
    is there."""
    problems, found = [], set()
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(INCOMING_PREFIX):
            continue
        sha, archived = _sha256(path), path.name.split("-", 1)[0]
        found.add(sha)
        if len(archived) != 16 or not sha.startswith(archived):
            problems.append(f"originals/{path.name}: content differs from the original archived (SHA-256 "
                            f"{sha[:12]}…, its name says {archived[:12]}…)" if len(archived) == 16 else
                            f"originals/{path.name}: not an original postline archived (its name holds no checksum)")
    named: dict[str, str] = {}
    for manifest in manifests:
        for entry in [*manifest.get("files", []), *manifest.get("not_delivered", [])]:
            if isinstance(entry, dict) and isinstance(entry.get("source_sha256"), str):
                named.setdefault(entry["source_sha256"], str(entry.get("source_name")))
    problems += [f"originals: {name}: missing (its delivery's manifest names it, SHA-256 {sha[:12]}…)"
                 for sha, name in sorted(named.items(), key=lambda pair: pair[1]) if sha not in found]
    return problems


def verify_order(folder: Path) -> list[str]:
    """An order's archive folder: its originals against its packages' manifests, then each package."""
    packages = packages_in(folder)
    read = [_read_manifest((package / MANIFEST).read_bytes(), MANIFEST)[0] for package in packages]
    problems = verify_originals(folder / "originals", [manifest for manifest in read if manifest is not None])
    for package in packages:
        problems += [f"{package.name}/{problem}" for problem in verify_package(package)]
    return problems


def verify(path: Path) -> list[str]:
    """Every difference between a delivery (package folder, or one of its ZIPs; an order's archive folder: its
    originals and its packages) and its manifest; [] when whole."""
    path = Path(path)
    if path.is_dir() and is_order_folder(path):
        return verify_order(path)
    if path.is_dir():
        return verify_package(path)
    if path.is_file():
        return verify_zip(path)
    return [f"{path}: no such package folder or ZIP"]
