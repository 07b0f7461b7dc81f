"""``scribe_sync.transcribe``: the one-call way to transcribe a file, URL or microphone take."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeGuard

from .client import DEFAULT_BASE_URL, ScribeClient
from .errors import AudioSourceError, ConfigError
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
        ConfigError: an argument or option is invalid (``speed``, ``commit_every``,
            ``chunk_ms``, ``audio_format``, ``on_event``, ``client``, ``source`` or a session
            option); raised before the source is opened or any connection is made.
        AudioSourceError: the source cannot be opened or read; for a path or URL, raised
            before any connection is made. A source that fails midway (a damaged file) loses
            nothing: the audio sent is transcribed first, and the error's ``transcript``
            attribute holds that partial :class:`~scribe_sync.transcript.Transcript`.
        IncompleteTranscriptError: the server did not answer every commit within the
            client's ``finish_timeout`` (or closed first): the transcript's tail is missing.
        ServerError, ConnectionClosedError: see their docs.

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

    # Every argument is checked before anything is opened: a bad one is a ConfigError naming
    # it, never a session opened only to fail (or a bare TypeError from the sender thread).
    audio_format = _check_arguments(source, client, speed, commit_every, on_event, options)
    client = client or ScribeClient(api_key, base_url=base_url)
    opened = open_source(source, format=audio_format, chunk_ms=chunk_ms)
    try:
        if opened is not source and isinstance(opened, AudioSource):
            # What we opened from a path or URL is read now: a URL that answers 404 fails
            # here, before a session is opened (and billed) for it.
            opened.prefetch()
        return _run(client, opened, speed, commit_every, on_event, options)
    finally:
        if isinstance(opened, AudioSource):
            opened.close()  # idempotent; the sender closes it too when it ends


def _run(client: ScribeClient, opened: Iterable[bytes], speed: float | str | None,
         commit_every: float | None, on_event: Callable[[Event], Any] | None,
         options: dict[str, Any]) -> Transcript:
    transcript = Transcript()
    with client.connect(**options) as session:
        handle = session.stream(opened, speed=speed, commit_every=commit_every)
        try:
            for event in session:
                transcript.add(event)
                if on_event is not None:
                    on_event(event)
        except AudioSourceError as exc:
            # The session delivered the transcripts of the audio sent before the failure.
            exc.transcript = transcript
            raise
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


def _positive_finite(value: object) -> TypeGuard[float]:
    """A real number (not a bool), finite and above zero."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _check_arguments(source: object, client: object, speed: object, commit_every: object,
                     on_event: object, options: dict[str, Any]) -> AudioFormat:
    """The session's audio format; a ConfigError for the first invalid argument."""
    if client is not None and not isinstance(client, ScribeClient):
        raise ConfigError(f"client must be a ScribeClient or None, got {client!r}",
                          option="client")
    if not (speed is None or speed == "auto" or _positive_finite(speed)):
        raise ConfigError(f"invalid speed={speed!r}: a positive finite number, None or 'auto'",
                          option="speed")
    if commit_every is not None and not (
            _positive_finite(commit_every) and commit_every >= 1.0):
        raise ConfigError(f"invalid commit_every={commit_every!r}: a finite number of seconds, "
                          "at least 1, or None", option="commit_every")
    if on_event is not None and not callable(on_event):
        raise ConfigError(f"on_event must be callable or None, got {on_event!r}",
                          option="on_event")
    raw_format = options.get("audio_format", AudioFormat.PCM_16000)
    try:
        audio_format = AudioFormat(raw_format)
    except ValueError:
        allowed = ", ".join(f.value for f in AudioFormat)
        raise ConfigError(f"invalid audio_format={raw_format!r}: one of {allowed}",
                          option="audio_format") from None
    # A source object may declare its format (a path cannot: str.format is a method).
    source_format = None if isinstance(source, str) else getattr(source, "format", None)
    if source_format is not None and source_format != audio_format:
        raise ConfigError(
            f"the source's format {source_format} does not match audio_format="
            f"{audio_format.value!r}", option="audio_format",
        )
    return audio_format
