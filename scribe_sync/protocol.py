"""Sans-I/O protocol core: the JSON codec, session options and their validation, URL building.

No sockets, threads or clocks live here, so everything is testable with plain values. This
module is the public face; each concern lives in its own private module:

- ``_decode``: :func:`decode` turns a server frame into a typed event and :func:`decode_client`
  a client frame into an :class:`~scribe_sync.messages.InputAudioChunk`. Decoding raises only
  :class:`~scribe_sync.errors.RemoteProtocolError`, whatever the input.
- ``_encode``: :func:`encode` turns any message of :mod:`scribe_sync.messages` into a text
  frame; :func:`encode_audio_chunk` is the per-chunk hot path.
- ``_options``: :class:`SessionOptions` holds every query parameter of docs/protocol.md §2 and
  validates it on construction, so an invalid option fails before any connection with a
  :class:`~scribe_sync.errors.ConfigError` naming the option, the value and what is allowed.
- ``_url``: :func:`build_url` produces the same URL as the official ``elevenlabs`` SDK for the
  same options; :func:`auth_headers` the handshake headers.
- ``_wire``: what the codec's halves share (strict JSON loading, field readers, config keys).
"""

from __future__ import annotations

from typing import Final

from ._decode import DECODERS, SERVER_EVENT_CLASSES, decode, decode_client
from ._encode import encode, encode_audio_chunk
from ._options import (
    ENTITY_CATEGORIES,
    ENTITY_REDACTION_MODES,
    MAX_KEYTERM_LENGTH,
    MAX_KEYTERMS,
    MAX_TRANSCRIPT_EDIT_LENGTH,
    SessionOptions,
)
from ._redact import redact_url
from ._url import REALTIME_PATH, auth_headers, build_url, query_params
from ._wire import CONFIG_ALIASES, CONFIG_KEYS

__all__ = [
    "ENTITY_CATEGORIES",
    "ENTITY_REDACTION_MODES",
    "MAX_KEYTERMS",
    "MAX_KEYTERM_LENGTH",
    "MAX_TRANSCRIPT_EDIT_LENGTH",
    "REALTIME_PATH",
    "SERVER_EVENT_CLASSES",
    "SERVER_MESSAGE_TYPES",
    "SESSION_CONFIG_KEYS",
    "SessionOptions",
    "auth_headers",
    "build_url",
    "decode",
    "decode_client",
    "encode",
    "encode_audio_chunk",
    "query_params",
    "redact_url",
]

#: Every ``message_type`` that :func:`decode` gives a class other than ``UnknownEvent``.
SERVER_MESSAGE_TYPES: Final = frozenset(DECODERS)
#: Every ``session_started.config`` key read into a named field; the rest go to ``extra``.
SESSION_CONFIG_KEYS: Final = frozenset(CONFIG_KEYS) | CONFIG_ALIASES
