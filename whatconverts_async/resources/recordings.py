"""Call recordings: ``GET recording?lead_id=...`` answers with the audio (MP3)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from ..errors import InvalidParameterError
from ..params import check_id
from ._base import Resource

__all__ = ["RecordingsResource"]


class RecordingsResource(Resource):
    """Call recordings (``wc.recordings``).

    A lead without a recording raises :class:`~whatconverts_async.NotFoundError`.
    """

    async def get(self, lead_id: int) -> bytes:
        """The recording of a call, as bytes (fine for one call; use :meth:`download`
        for many or long ones).

        Example::

            audio = await wc.recordings.get(lead_id)
        """
        check_id(lead_id, "lead_id")

        async def read(chunks: AsyncIterator[bytes]) -> bytes:
            return b"".join([chunk async for chunk in chunks])

        # Capped at the client's max_response_bytes, as any answer held in memory.
        return await self._client.stream("GET", "recording", read, params={"lead_id": lead_id})

    async def download(self, lead_id: int, path: str | os.PathLike[str]) -> Path:
        """Stream a recording to ``path`` in chunks, never holding it all in memory.

        The audio goes to a temporary file beside ``path`` that is renamed into place
        only when complete, so a failed download never leaves a partial file at ``path``.

        Example::

            await wc.recordings.download(lead_id, "call.mp3")
        """
        check_id(lead_id, "lead_id")
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InvalidParameterError("path", f"must be a file path, got {path!r}")
        target = Path(path)
        directory = target.parent if str(target.parent) else Path(".")
        # Checked before the request, so a typo in the path does not spend budget.
        if target.is_dir():
            raise InvalidParameterError("path", f"{target} is a directory, not a file name")
        if not directory.is_dir():
            raise InvalidParameterError("path", f"folder {directory} does not exist")
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
        os.close(fd)
        temp = Path(temp_name)

        async def write(chunks: AsyncIterator[bytes]) -> int:
            written = 0
            # Opened per attempt so a retried download starts from an empty file.
            with temp.open("wb") as handle:
                async for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return written

        try:
            # Not capped: the file goes to disk, never into memory.
            await self._client.stream(
                "GET", "recording", write, params={"lead_id": lead_id}, capped=False
            )
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target
