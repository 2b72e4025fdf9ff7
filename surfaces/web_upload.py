"""Receiving a retoucher's upload: the multipart body is streamed straight into one file under the postline
home, counted as it arrives and cut off as soon as it passes the limit. python-multipart parses the stream;
no more than one network chunk is held in memory, and nothing goes through the system's temporary folder
(often a RAM disk, where a 400 MB upload would be held in memory after all)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from config.errors import Invalid

FORM_OVERHEAD = 64 * 1024      # the form's other fields and the multipart framing, on top of the file itself


class TooLarge(Invalid):
    """The upload passed the limit; what arrived so far is discarded."""


class BadForm(Invalid):
    """The body is not the upload form (not multipart, broken framing, too many or too long fields)."""


@dataclass
class Received:
    fields: dict[str, str] = field(default_factory=dict)   # the small text fields (the CSRF token)
    size: int = 0                                           # bytes of the file part written to the target
    head: bytes = b""                                       # its first bytes: what kind of file it is
    filename: str = ""                                      # its name on the sender's machine (for messages only)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


async def receive(request: Request, target: Path, *, file_field: str, limit: int, max_fields: int = 5,
                  max_field_bytes: int = 64 * 1024) -> Received:
    """Write the form's ``file_field`` part to ``target`` and return the other fields. Raises :class:`TooLarge`
    once the file passes ``limit`` bytes (or the body passes it and :data:`FORM_OVERHEAD`), :class:`BadForm`
    for anything that is not that form. Other file parts are refused; text fields are decoded as UTF-8."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadForm("The upload was not sent as a form with a file: use the form on the item's page.")
    got = Received()
    part = _Part()
    header_name = bytearray()
    header_value = bytearray()
    pending: list[bytes] = []          # file bytes parsed from the last chunk, written before the next one
    files = 0

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal files
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        part.is_file = b"filename" in disposition
        files += part.is_file
        if part.is_file and (part.name != file_field or files > 1):
            raise BadForm("The form carried more than the one file it takes.")
        if part.is_file:
            got.filename = Path(disposition.get(b"filename", b"").decode("utf-8", "replace").replace("\\", "/")).name
        if not part.is_file and len(got.fields) >= max_fields:
            raise BadForm(f"The form carried more than {max_fields} fields.")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not part.is_file:
            if len(part.data) + end - start > max_field_bytes:
                raise BadForm(f"A field of the form is longer than {max_field_bytes // 1024} KB.")
            part.data.extend(data[start:end])
            return
        got.size += end - start
        if got.size > limit:
            raise TooLarge
        if len(got.head) < 16:
            got.head += data[start:start + 16 - len(got.head)]
        pending.append(data[start:end])

    def on_part_end() -> None:
        if not part.is_file:
            got.fields.setdefault(part.name, part.data.decode("utf-8", "replace"))

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end})
    body = 0
    with target.open("wb") as out:
        try:
            async for chunk in request.stream():
                body += len(chunk)
                if body > limit + FORM_OVERHEAD:
                    raise TooLarge
                parser.write(chunk)
                if pending:
                    await anyio.to_thread.run_sync(out.writelines, pending)
                    pending.clear()
            parser.finalize()
        except FormParserError:
            raise BadForm("The upload arrived broken (the form's framing is wrong): try again.") from None
    return got
