"""Call recordings: ``GET recording?lead_id=...`` answers with the audio (MP3).

What the API answers here is not documented beyond "an MP3 file". So an answer is taken
as a recording only when its content type is ``audio/*`` or its first bytes are those of
an audio file (see :data:`AUDIO_SIGNATURES`); anything else (a login page served with
200, say) raises and saves nothing. A 200 JSON ``{"error_message": "... not found ..."}`` is a
:class:`~whatconverts_async.NotFoundError`, as a 404 is. A redirect is not followed (the
request carries the API's ``Authorization`` header, and a hop elsewhere is a request
the budget never saw): it raises :class:`~whatconverts_async.MalformedResponseError`
saying so. The documented way to a recording is the lead's own ``recording`` URL, which
:meth:`RecordingsResource.links` gives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import attrs
import yarl

from .._transport import Sink, error_for_status, loads, malformed
from ..errors import APIError, InvalidParameterError, NotFoundError
from ..models import Lead
from ..params import check_id, check_path
from ._base import Resource

__all__ = ["AUDIO_ACCEPT", "AUDIO_SIGNATURES", "RecordingLinks", "RecordingsResource", "is_audio"]

AUDIO_ACCEPT = "audio/mpeg, audio/*;q=0.9"
"""The ``Accept`` header of recording requests."""

AUDIO_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"ID3"),  # MP3 with an ID3v2 tag
    (0, b"\xff\xfb"),  # MP3 frames (MPEG-1 layer III, with and without CRC, MPEG-2/2.5)
    (0, b"\xff\xfa"),
    (0, b"\xff\xf3"),
    (0, b"\xff\xf2"),
    (0, b"\xff\xe3"),
    (0, b"\xff\xe2"),
    (0, b"RIFF"),  # WAV
    (0, b"OggS"),  # Ogg (Vorbis, Opus)
    (0, b"fLaC"),  # FLAC
    (4, b"ftyp"),  # MP4 / M4A
    (0, b"#!AMR"),  # AMR (telephony)
    (0, b"\x1a\x45\xdf\xa3"),  # WebM / Matroska
)
"""``(offset, bytes)`` that start an audio file of a format a call recording may come in."""

T = TypeVar("T")

_SNIFF = 12  # bytes needed to recognise every signature above
_ERROR_PEEK = 64 * 1024  # what is read of a non-audio answer to say what it was


def is_audio(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts an audio file.

    >>> is_audio(b"ID3\\x04\\x00..."), is_audio(b"<!DOCTYPE html>")
    (True, False)
    """
    return any(head[at : at + len(magic)] == magic for at, magic in AUDIO_SIGNATURES)


@attrs.frozen
class RecordingLinks:
    """A lead's recording URLs (None when the lead has none), as the lead data gives them.

    These URLs are the documented way to recordings: they take the API token and secret
    as Basic auth, or ``?token=<profile API token>`` (not with HIPAA compliance on).
    """

    lead_id: int
    recording: str | None
    play_recording: str | None
    voicemail: str | None
    play_voicemail: str | None


async def _audio_chunks(chunks: AsyncIterator[bytes], url: str) -> AsyncIterator[bytes]:
    """``chunks`` unchanged when they say they are audio (an ``audio/*`` content type) or
    start like audio; otherwise the error they are."""
    content_type = str(getattr(chunks, "content_type", "") or "")
    head = b""
    async for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF:
            break
    if not content_type.startswith("audio/") and not is_audio(head):
        while len(head) < _ERROR_PEEK:
            more = await anext(chunks, b"")
            if not more:
                break
            head += more
        raise _not_audio(head, url)
    yield head
    async for chunk in chunks:
        yield chunk


class RecordingsResource(Resource):
    """Call recordings (``wc.recordings``).

    A lead without a recording raises :class:`~whatconverts_async.NotFoundError`; an
    answer that is not audio raises :class:`~whatconverts_async.MalformedResponseError`.
    """

    async def get(self, lead_id: int) -> bytes:
        """The recording of a call, as bytes (fine for one call; use :meth:`download`
        for many or long ones).

        Example::

            audio = await wc.recordings.get(lead_id)
        """
        check_id(lead_id, "lead_id")

        async def read(chunks: AsyncIterator[bytes]) -> bytes:
            return b"".join([chunk async for chunk in _audio_chunks(chunks, self._url())])

        # Capped at the client's max_response_bytes, as any answer held in memory.
        return await self._fetch(lead_id, read, capped=True)

    async def download(self, lead_id: int, path: str | os.PathLike[str]) -> Path:
        """Stream a recording to ``path`` in chunks, never holding it all in memory.

        The audio goes to a temporary file beside ``path`` that is renamed into place
        only when complete, so a failed download (or an answer that is not audio) never
        leaves a file at ``path``. ``path`` must be a ``str`` or ``os.PathLike`` without
        NUL characters, in an existing folder
        (:class:`~whatconverts_async.InvalidParameterError` before any request).

        Example::

            await wc.recordings.download(lead_id, "call.mp3")
        """
        check_id(lead_id, "lead_id")
        target = Path(check_path(path, "path"))
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
            audio = _audio_chunks(chunks, self._url())
            # Opened per attempt so a retried download starts from an empty file.
            with temp.open("wb") as handle:
                async for chunk in audio:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return written

        try:
            # Not capped: the file goes to disk, never into memory.
            await self._fetch(lead_id, write, capped=False)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target

    async def links(self, lead: Lead | int) -> RecordingLinks:
        """The recording and voicemail URLs of a lead (a :class:`~whatconverts_async.Lead`,
        or its id: then the lead is read, one request).

        Example::

            links = await wc.recordings.links(lead)
            if links.recording:
                print("download from", links.recording)
        """
        if not isinstance(lead, Lead):
            check_id(lead, "lead")
            lead = await self._one(f"leads/{lead}", Lead, "leads", "lead")

        def url(value: str | None) -> str | None:
            return value if value and value.strip() else None

        return RecordingLinks(
            lead.lead_id,
            url(lead.recording),
            url(lead.play_recording),
            url(lead.voicemail),
            url(lead.play_voicemail),
        )

    def _url(self) -> str:
        return str(self._client.base_url.join(yarl.URL("recording")))

    async def _fetch(self, lead_id: int, sink: Sink[T], *, capped: bool) -> T:
        failure: NotFoundError | None = None
        try:
            return await self._client.stream(
                "GET",
                "recording",
                sink,
                params={"lead_id": lead_id},
                capped=capped,
                accept=AUDIO_ACCEPT,
            )
        except APIError as exc:
            if exc.status != 200 or not _says_not_found(exc.error_message):
                raise
            failure = _not_found(exc)
        # Raised outside the except block: the chain would repeat the same answer.
        raise failure


def _not_found(exc: APIError) -> NotFoundError:
    return NotFoundError(
        str(exc), status=exc.status, method=exc.method, url=exc.url, error_message=exc.error_message
    )


def _says_not_found(message: str | None) -> bool:
    return bool(message) and "not found" in str(message).lower()


def _not_audio(head: bytes, url: str) -> APIError:
    """The error for a 2xx answer to ``recording`` that is not audio: the error a JSON
    ``error_message`` names, else :class:`MalformedResponseError` saying what came."""
    text = head.lstrip()
    if text[:1] == b"{":
        try:
            payload = loads(head)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "error_message" in payload:
            error = error_for_status(200, head, method="GET", url=url, payload=payload)
            return _not_found(error) if _says_not_found(error.error_message) else error
    kind = "an HTML page (a login page?)" if text[:1] == b"<" else "an answer that is not audio"
    why = f"expected a recording (audio), got {kind}; nothing was saved"
    return malformed(200, head, method="GET", url=url, why=why)
