"""surfaces.web_upload: an upload form's body streamed into a file, read chunk by chunk as the browser sends it
and cut off at the limit (the request comes through a real Starlette Request fed by an ASGI receive)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from starlette.requests import Request

from surfaces import web_upload

BOUNDARY = b"postline-test-boundary"
CHUNK = 64 * 1024


def form(fields: dict[str, str], file: bytes, *, name: str = "result") -> bytes:
    parts = [b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + k.encode() + b'"\r\n\r\n'
             + v.encode() + b"\r\n" for k, v in fields.items()]
    parts.append(b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name.encode()
                 + b'"; filename="edit.tif"\r\nContent-Type: image/tiff\r\n\r\n' + file + b"\r\n")
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def streamed(body: bytes, pulled: list[int]) -> Request:
    """A request whose body arrives in 64 KiB chunks, no Content-Length (chunked); ``pulled`` counts what was read."""
    chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]

    async def receive() -> dict:
        chunk = chunks.pop(0) if chunks else b""
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/items/1/submit", "query_string": b"",
             "headers": [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)]}
    return Request(scope, receive)


def test_the_file_part_is_written_to_disk_and_the_fields_kept(tmp_path: Path):
    data = b"II*\x00" + os.urandom(3 * CHUNK + 123)
    pulled: list[int] = []
    got = asyncio.run(web_upload.receive(streamed(form({"csrf": "token-1"}, data), pulled), tmp_path / "upload",
                                         file_field="result", limit=1024 * 1024))
    assert (tmp_path / "upload").read_bytes() == data
    assert got.fields == {"csrf": "token-1"} and got.size == len(data) and got.head[:4] == b"II*\x00"


def test_an_upload_without_a_length_is_cut_off_at_the_limit_not_read_to_the_end(tmp_path: Path):
    limit = 1024 * 1024
    body = form({"csrf": "t"}, os.urandom(8 * limit))
    pulled: list[int] = []
    with pytest.raises(web_upload.TooLarge):
        asyncio.run(web_upload.receive(streamed(body, pulled), tmp_path / "upload", file_field="result", limit=limit))
    assert sum(pulled) <= limit + CHUNK < len(body)              # it stopped reading right after the limit
    assert (tmp_path / "upload").stat().st_size <= limit         # and never wrote more than the limit


@pytest.mark.parametrize("body, headers", [
    (b"not a form at all", [(b"content-type", b"text/plain")]),
    (form({"csrf": "t"}, b"x", name="other"), None),                                  # a file under another name
    (form({f"f{i}": "v" for i in range(9)}, b"x"), None),                              # too many fields
    (form({"csrf": "x" * (100 * 1024)}, b"x"), None),                                  # a field too long
])
def test_anything_but_the_form_is_a_bad_form(tmp_path: Path, body: bytes, headers):  # noqa: ANN001
    request = streamed(body, [])
    if headers:
        request.scope["headers"] = headers
    with pytest.raises(web_upload.BadForm):
        asyncio.run(web_upload.receive(request, tmp_path / "upload", file_field="result", limit=1024 * 1024))
