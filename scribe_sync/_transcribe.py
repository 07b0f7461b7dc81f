"""``scribe_sync.transcribe``: the one-call way to transcribe a file, URL or microphone take."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .client import DEFAULT_BASE_URL, ScribeClient
from .messages import AudioFormat, Event
from .transcript import Transcript

if TYPE_CHECKING:
    from .audio import AudioSource

__all__ = ["transcribe"]


def transcribe(
    source: str | os.PathLike[str] | AudioSource | Iterable[bytes],
    *,
    client: ScribeClient | None = None,
    api_key: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    speed: float | str | None = "auto",
    commit_every: float | None = 20.0,
    chunk_ms: int = 100,
    on_event: Callable[[Event], Any] | None = None,
    **options: Any,
) -> Transcript:
    """Transcribe a whole source and return its :class:`~scribe_sync.transcript.Transcript`.

    Args:
        source: a path, a URL (read through ffmpeg), ``"-"`` for raw audio on stdin, or an
            audio source such as :class:`~scribe_sync.audio.MicrophoneSource` (stop a live
            source with Ctrl+C: what was said so far is committed and returned).
        client: a configured :class:`ScribeClient`; otherwise one is made from ``api_key``
            (default: the ``ELEVENLABS_API_KEY`` environment variable) and ``base_url``.
        speed, commit_every: as for :meth:`Session.stream`.
        chunk_ms: chunk duration for sources opened from a path or URL.
        on_event: called with every event as it arrives (on the calling thread).
        **options: session options, e.g. ``include_timestamps=True`` (needed for SRT/WebVTT),
            ``language_code="en"``, ``audio_format="pcm_16000"``.

    Raises:
        ConfigError, AudioSourceError, ServerError, ConnectionClosedError: see their docs.

    Example::

        import scribe_sync
        from scribe_sync.audio import sample_path

        transcript = scribe_sync.transcribe(sample_path(), include_timestamps=True, speed=None)
        transcript.write("sample.srt")  # or .vtt, .json, .txt
        print(transcript.text)
    """
    # Imported here so that `import scribe_sync` stays light: audio sources may need the audio
    # extra, a client that sends its own bytes does not.
    from .audio import AudioSource, open_source

    client = client or ScribeClient(api_key, base_url=base_url)
    audio_format = AudioFormat(options.get("audio_format", AudioFormat.PCM_16000))
    opened = open_source(source, format=audio_format, chunk_ms=chunk_ms)
    transcript = Transcript()
    try:
        session = client.connect(**options)
    except BaseException:
        if isinstance(opened, AudioSource):
            opened.close()
        raise
    with session:
        handle = session.stream(opened, speed=speed, commit_every=commit_every)
        try:
            for event in session:
                transcript.add(event)
                if on_event is not None:
                    on_event(event)
        except KeyboardInterrupt:
            # Keep what was said: stop the audio, commit the tail, collect the last transcripts.
            handle.stop()
            handle.join(client.close_timeout)
            if not session.closed:
                session.finish()
            for event in session:
                transcript.add(event)
                if on_event is not None:
                    on_event(event)
    return transcript
