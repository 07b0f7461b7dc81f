"""Test helpers: a raw WebSocket peer for the mock and synthetic audio (tones, noise, silence)."""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.parse
from typing import Any

import numpy as np
import websocket

RATE = 16000


def speech(seconds: float, rate: int = RATE, seed: int = 0, level: float = 0.3) -> bytes:
    """Band-limited noise standing in for speech (16-bit PCM)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    noise = rng.standard_normal(n + 8)
    smooth = np.convolve(noise, np.ones(8) / 8, mode="valid")[:n]
    smooth /= max(1e-9, float(np.max(np.abs(smooth))))
    return (smooth * level * 32767).astype("<i2").tobytes()


def narrowband(seconds: float, rate: int = 8000, seed: int = 0, level: float = 0.3) -> bytes:
    """Noise in the telephone band, 300-3400 Hz, standing in for 8 kHz speech (16-bit PCM).

    Unlike :func:`speech`, its bandwidth is fixed in hertz, so audio made at one rate and
    declared as another looks wrong (``audio_check="strict"``)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    signal = np.fft.irfft(spectrum, n)
    signal /= max(1e-9, float(np.max(np.abs(signal))))
    return (signal * level * 32767).astype("<i2").tobytes()


def tone(seconds: float, rate: int = RATE, freq: float = 440.0, level: float = 0.3) -> bytes:
    """A sine tone (16-bit PCM)."""
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype("<i2").tobytes()


def silence(seconds: float, rate: int = RATE, bytes_per_sample: int = 2) -> bytes:
    """Digital silence (zeros)."""
    return b"\x00" * (round(seconds * rate) * bytes_per_sample)


def chunk(audio: bytes = b"", *, commit: bool = False, sample_rate: int | None = RATE,
          **extra: Any) -> str:
    """An input_audio_chunk frame as the official SDK sends it."""
    message: dict[str, Any] = {
        "message_type": "input_audio_chunk",
        "audio_base_64": base64.b64encode(audio).decode(),
        "commit": commit,
    }
    if sample_rate is not None:
        message["sample_rate"] = sample_rate
    message.update(extra)
    return json.dumps(message)


class Peer:
    """A raw websocket-client connection to the mock that records everything it receives."""

    def __init__(self, server: Any, params: dict[str, Any] | list[tuple[str, str]] | None = None,
                 *, api_key: str | None = "test-key", token: str | None = None,
                 timeout: float = 10.0) -> None:
        query: list[tuple[str, str]] = [("model_id", "scribe_v2_realtime")]
        if isinstance(params, dict):
            query = [(k, v) for k, v in query if k not in params]
            for key, value in params.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    value = str(value).lower()
                if isinstance(value, list):
                    query.extend((key, str(v)) for v in value)
                else:
                    query.append((key, str(value)))
        elif params is not None:
            query = list(params)
        if token is not None:
            query.append(("token", token))
        url = server.ws_url + "?" + urllib.parse.urlencode(query)
        headers = [] if api_key is None else [f"xi-api-key: {api_key}"]
        self.ws = websocket.create_connection(url, header=headers, timeout=timeout)
        self.received: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def send(self, frame: str) -> None:
        self.ws.send(frame)

    def send_audio(self, audio: bytes, chunk_bytes: int = 3200, **extra: Any) -> None:
        for start in range(0, len(audio), chunk_bytes):
            self.ws.send(chunk(audio[start : start + chunk_bytes], **extra))

    def commit(self) -> None:
        self.ws.send(chunk(b"", commit=True))

    def recv(self) -> dict[str, Any] | None:
        """The next JSON message, or None once the server closed (code kept)."""
        # Frames, not messages: websocket-client answers a close frame inside recv_data(),
        # and that answer fails when the server has already cut TCP (as it does after
        # refusing an oversized frame), which would lose the close code.
        try:
            frame = self.ws.recv_frame()  # type: ignore[no-untyped-call]
            while frame.opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CLOSE):
                if frame.opcode == websocket.ABNF.OPCODE_BINARY:
                    self.received.append({"binary": frame.data})
                    return {"binary": frame.data}
                frame = self.ws.recv_frame()  # type: ignore[no-untyped-call]
        except (OSError, websocket.WebSocketConnectionClosedException):
            # TCP ended without a close frame we could read (1006): a dropped connection, or
            # a reset because the server closed with our unread data in its buffer.
            self.close_code, self.close_reason = 1006, ""
            self.ws.shutdown()  # type: ignore[no-untyped-call]
            return None
        data: bytes = frame.data
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            self.close_reason = data[2:].decode()
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self.ws.send_close()
            self.ws.shutdown()  # type: ignore[no-untyped-call]
            return None
        text = data.decode("utf-8", errors="replace")
        try:
            message: dict[str, Any] = json.loads(text)
        except ValueError:
            message = {"text_frame": text}  # a garbage frame (fault injection)
        self.received.append(message)
        return message

    def recv_until(self, message_type: str) -> dict[str, Any]:
        """Receive until a message of this type arrives; fail if the socket closes first."""
        while True:
            message = self.recv()
            assert message is not None, f"closed ({self.close_code}) before {message_type}"
            if message.get("message_type") == message_type:
                return message

    def recv_all(self) -> list[dict[str, Any]]:
        """Everything until the server closes."""
        messages: list[dict[str, Any]] = []
        while True:
            message = self.recv()
            if message is None:
                return messages
            messages.append(message)

    def close(self) -> None:
        """Close the WebSocket (1000) if still open; the socket is closed in any case."""
        try:
            if self.ws.connected:
                self.ws.close()
        except (OSError, websocket.WebSocketException):
            pass  # the server already cut the connection
        finally:
            self.ws.shutdown()  # type: ignore[no-untyped-call]

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode 16-bit PCM as G.711 mu-law (for ulaw_8000 tests)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    return encoded
