"""A download served from a :class:`tasks.download.Download` (the package's ZIP, made as it is served): whole, or
one byte range of it, so a download that stopped resumes where it stopped.

What a browser or a download manager needs: ``Accept-Ranges: bytes``, a strong ETag and Last-Modified, ``Range:
bytes=a-b`` (also ``a-`` and ``-n``) answered 206 with Content-Range, a range past the end 416, ``If-Range`` naming
another version answered with the whole new file (200). Several ranges in one request are answered with the whole
file (200), as HTTP allows."""

from __future__ import annotations

import re
from email.utils import formatdate
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from tasks.download import Download

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.I)


def _disposition(filename: str) -> str:
    quoted = quote(filename)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != filename else f'attachment; filename="{filename}"'


def _one_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(start, end exclusive) of a single byte range; None to send the whole file (several ranges, or one this
    does not read); "unsatisfiable" past the end."""
    found = _RANGE.match(header)
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:                                   # the last n bytes
        n = int(last)
        return (max(size - n, 0), size) if n else "unsatisfiable"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size:
        return "unsatisfiable"
    return (start, end) if start < end else None


def download_response(request: Request, download: Download, filename: str, headers: dict[str, str]) -> Response:
    """``download`` as the answer to ``request`` (GET, or HEAD: the headers alone), saved by the browser as
    ``filename``."""
    last_modified = formatdate(download.mtime, usegmt=True)
    base = {**headers, "accept-ranges": "bytes", "etag": download.etag, "last-modified": last_modified,
            "content-disposition": _disposition(filename)}
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    span = None
    if wanted is not None and (if_range is None or if_range in (download.etag, last_modified)):
        span = _one_range(wanted, download.size)
    if span == "unsatisfiable":
        return PlainTextResponse("Range not satisfiable.", status_code=416,
                                 headers={"content-range": f"bytes */{download.size}"})
    start, end = span if isinstance(span, tuple) else (0, download.size)
    answer = {**base, "content-length": str(end - start)}
    if isinstance(span, tuple):
        answer["content-range"] = f"bytes {start}-{end - 1}/{download.size}"
    if request.method == "HEAD":      # a download manager asking the size and whether it may resume: no body made
        return Response(status_code=206 if span else 200, media_type="application/zip", headers=answer)
    return StreamingResponse(iterate_in_threadpool(download.read(start, end)), status_code=206 if span else 200,
                             media_type="application/zip", headers=answer)
