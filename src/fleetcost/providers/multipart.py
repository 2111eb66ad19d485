"""Just enough multipart/form-data to read an upload (`POST /v1/files`).

SDKs upload files as multipart forms: a `purpose` field and a `file` part
with a filename. Parts are split on the boundary from the content type; a
part's headers end at the first blank line. No streaming: batch input files
are bounded by the server's body limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetcost.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    data: bytes


def parse_form(content_type: str, body: bytes) -> dict[str, Part]:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise BadRequest("Uploads must be multipart/form-data.", param="file")
    boundary = ""
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary.", param="file")
    parts: dict[str, Part] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        name, filename = _disposition(head.decode("latin-1"))
        if name:
            parts[name] = Part(name, filename, data.removesuffix(b"\r\n"))
    return parts


def _disposition(head: str) -> tuple[str | None, str | None]:
    name = filename = None
    for line in head.split("\r\n"):
        if not line.lower().startswith("content-disposition:"):
            continue
        for item in line.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            if key == "name":
                name = value.strip('"')
            elif key == "filename":
                filename = value.strip('"')
    return name, filename
