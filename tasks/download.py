"""The client's download: a delivery package as one ZIP, made as it is served from the package's own files.

The package (tasks/package.py) holds one ZIP per rendition set, the contact sheets, the album PDF and its
manifest. Its download ZIP holds all of them: every member of every set's ZIP under the same path
(``full/...``, ``web/...``), then the sheets and the package's manifest.json at the top, all stored. Nothing of
it is written to disk: the bytes of each member are read where they lie (inside its set's ZIP, or the loose
file), and only the ZIP's headers are made here, so a package costs its size once on disk, not twice.

The layout is fixed by the package's files (names, sizes, CRCs, a fixed date), so the same package gives the same
ZIP byte for byte on every request: a download that stopped resumes with a Range request, and its ETag (the
package manifest's SHA-256 and the ZIP's size) changes when the package does. ZIP64 is used where a member, an
offset or the count needs it (Python's zipfile writes the central directory)."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tasks.package import MANIFEST

_DATE = (2026, 1, 1, 0, 0, 0)          # as the set ZIPs have it: the same files, the same ZIP
_BLOCK = 1 << 20


@dataclass(frozen=True)
class _Piece:
    """``length`` bytes of ``path`` from ``offset`` (a member's data), or ``data`` itself (headers)."""
    length: int
    data: bytes = b""
    path: Path | None = None
    offset: int = 0


class _Sink:
    """What zipfile writes the central directory into: kept, with its place in the download."""

    def __init__(self, position: int) -> None:
        self.position, self.parts = position, []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, *_args: object) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        pass


@dataclass(frozen=True)
class Download:
    """A ZIP to serve: its name, size, ETag, modification time and pieces."""
    name: str
    size: int
    etag: str
    mtime: float
    pieces: tuple[_Piece, ...]

    @classmethod
    def of_file(cls, path: Path) -> "Download":
        """A ZIP that is a file (a delivery zip an earlier postline wrote)."""
        info = path.stat()
        etag = hashlib.md5(f"{path}-{info.st_mtime_ns}-{info.st_size}".encode(), usedforsecurity=False).hexdigest()
        return cls(path.name, info.st_size, f'"{etag}"', info.st_mtime, (_Piece(info.st_size, path=path),))

    @classmethod
    def of_package(cls, package: Path) -> "Download":
        """The download ZIP of the package folder ``package``. Raises OSError when a file of it cannot be read,
        zipfile.BadZipFile when a set's ZIP is damaged."""
        manifest_path = package / MANIFEST
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
        pieces: list[_Piece] = []
        infos: list[zipfile.ZipInfo] = []
        position = 0

        def add(name: str, size: int, crc: int, compress_type: int, compress_size: int, data: _Piece) -> None:
            nonlocal position
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.create_system, info.external_attr = 3, 0o644 << 16
            info.compress_type, info.CRC, info.file_size, info.compress_size = compress_type, crc, size, compress_size
            info.header_offset = position
            header = info.FileHeader(zip64=None)
            pieces.extend((_Piece(len(header), data=header), data))
            infos.append(info)
            position += len(header) + data.length

        for entry in manifest.get("zips", []):
            path = package / entry["path"]
            with open(path, "rb") as fh, zipfile.ZipFile(fh) as archive:
                for member in archive.infolist():
                    if member.filename == MANIFEST or member.is_dir():
                        continue
                    fh.seek(member.header_offset + 26)
                    name_length, extra_length = struct.unpack("<HH", fh.read(4))
                    start = member.header_offset + 30 + name_length + extra_length
                    add(member.filename, member.file_size, member.CRC, member.compress_type, member.compress_size,
                        _Piece(member.compress_size, path=path, offset=start))
        loose = [package / entry["path"] for entry in manifest.get("sheets", [])]
        for path in loose:
            size, crc = _crc(path)
            add(path.name, size, crc, zipfile.ZIP_STORED, size, _Piece(size, path=path))
        add(MANIFEST, len(manifest_bytes), zlib.crc32(manifest_bytes), zipfile.ZIP_STORED, len(manifest_bytes),
            _Piece(len(manifest_bytes), data=manifest_bytes))

        sink = _Sink(position)
        with zipfile.ZipFile(sink, "w", allowZip64=True) as directory:    # the central directory, ZIP64 if need be
            directory.filelist.extend(infos)
        tail = b"".join(sink.parts)
        pieces.append(_Piece(len(tail), data=tail))
        size = position + len(tail)
        etag = f'"{hashlib.sha256(manifest_bytes).hexdigest()[:32]}-{size:x}"'
        return cls(f"{package.name}.zip", size, etag, manifest_path.stat().st_mtime, tuple(pieces))

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from ``start`` up to ``end`` (exclusive; None: the end), in blocks of at most 1 MiB."""
        end = self.size if end is None else min(end, self.size)
        at = 0
        for piece in self.pieces:
            lo, hi = max(start, at), min(end, at + piece.length)
            if lo < hi:
                if piece.path is None:
                    yield piece.data[lo - at:hi - at]
                else:
                    with open(piece.path, "rb") as fh:
                        fh.seek(piece.offset + lo - at)
                        left = hi - lo
                        while left > 0:
                            block = fh.read(min(_BLOCK, left))
                            if not block:
                                raise OSError(f"{piece.path}: shorter than when the download was laid out")
                            left -= len(block)
                            yield block
            at += piece.length
            if at >= end:
                break

    def write_to(self, target: Path) -> None:
        """The whole ZIP written at ``target`` (for the studio's own copy: a drive, another service)."""
        with open(target, "wb") as out:
            for block in self.read():
                out.write(block)


def _crc(path: Path) -> tuple[int, int]:
    size, crc = 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return size, crc
