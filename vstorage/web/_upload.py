"""Uploads streamed to a temporary file with a size cap: raw bodies or multipart ``file``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from vstorage.web._responses import HTTPError


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, "payload_too_large", f"the upload exceeds {limit} bytes")


def _capped(request: Request, limit: int) -> Request:
    """The same request, whose body stream refuses to go past ``limit`` bytes."""
    received = 0
    receive = request.receive

    async def capped_receive() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return Request(request.scope, capped_receive)


async def save_upload(request: Request, limit: int, suffix: str) -> Path:
    """Write the upload to a new temporary file and return its path (the caller removes it).

    A ``multipart/form-data`` body must carry the file in a field named ``file``; any other
    body is the file itself.

    Raises:
        HTTPError: 413 past ``limit`` bytes; 422 for a multipart body without ``file``.

    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    handle, name = tempfile.mkstemp(prefix="vstorage-upload-", suffix=suffix)
    os.close(handle)
    path = Path(name)
    try:
        capped = _capped(request, limit)
        content_type = request.headers.get("content-type", "")
        async with await anyio.open_file(path, "wb") as out:
            if content_type.startswith("multipart/form-data"):
                async with capped.form(max_files=1, max_fields=10) as form:
                    upload = form.get("file")
                    if not isinstance(upload, UploadFile):
                        raise HTTPError(422, "validation_error", "send the file in a field 'file'")
                    while chunk := await upload.read(1024 * 1024):
                        await out.write(chunk)
            else:
                async for chunk in capped.stream():
                    await out.write(chunk)
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    return path
