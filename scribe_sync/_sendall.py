"""Writing one WebSocket frame whole, even when a signal handler raises in the middle of it.

A handler that raises (Ctrl+C's ``KeyboardInterrupt``, ``sys.exit`` from a SIGTERM handler)
runs on the main thread only, between two bytecodes or inside a blocked socket call. If it
interrupts ``sendall`` after part of a frame went out, the rest never follows, and the peer
reads the next frame's bytes as this one's payload. :func:`send_whole` never leaves a frame
cut short:

- off the main thread, no handler runs: ``sendall`` as it is;
- on the main thread over plain TCP, it sends in a loop whose byte counts are stored by C code
  (``list.extend`` over ``map(sock.send, ...)``) before Python can run a handler, so that an
  interrupt always knows how much went out; the rest is written, then the interrupt raised;
- over TLS (``SSLSocket.send`` is Python code, so a count can still be lost), the main thread
  blocks the signals whose handlers raise for the length of ``sendall`` (two
  ``pthread_sigmask`` calls; no handler is replaced): the signal waits until the frame is
  whole. Where that is impossible (Windows), ``on_cut`` is called: the connection cannot carry
  another frame.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["send_whole"]

#: The signals whose Python handlers raise (Ctrl+C; ``sys.exit`` from a SIGTERM handler; the
#: CLI's own for SIGHUP and SIGQUIT), held back while the main thread writes a TLS frame.
_HELD: Final = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
                     if hasattr(signal, name))
_CAN_HOLD: Final = hasattr(signal, "pthread_sigmask")


def send_whole(sock: socket.socket, data: bytes, *, tls: bool, io_timeout: float,
               on_cut: Callable[[], None]) -> None:
    """``sock.sendall(data)``, never leaving ``data`` half sent (see the module docstring).

    Raises:
        OSError, ValueError: as ``sendall`` (a timeout after ``io_timeout`` per write, about
            twice that in all at most).
        BaseException: what a signal handler raised, once ``data`` is wholly sent (or
            ``on_cut()`` was called).
    """
    if threading.current_thread() is not threading.main_thread():
        sock.sendall(data)
    elif not tls:
        _send_counted(sock, data, io_timeout)
    elif _CAN_HOLD:
        try:  # blocked inside the try: an interrupt as a call returns never leaves them blocked
            signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            sock.sendall(data)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    else:
        try:
            sock.sendall(data)
        except (OSError, ValueError):
            raise
        except BaseException:
            on_cut()  # how much went out is unknown
            raise


def _send_counted(sock: socket.socket, data: bytes, io_timeout: float) -> None:
    counts: list[int] = []  # appended to by C code: a count survives an interrupt
    try:
        _send_all(sock, memoryview(data), counts, io_timeout)
    except (OSError, ValueError):
        raise
    except BaseException:
        sent = sum(counts)
        if sent < len(data):
            _finish(sock, memoryview(data)[sent:], io_timeout)
        raise


def _send_all(sock: socket.socket, view: memoryview, counts: list[int],
              io_timeout: float) -> None:
    counts.extend(map(sock.send, (view,)))  # usually all of it, at once
    sent = counts[-1]
    deadline = time.monotonic() + io_timeout
    while sent < len(view):
        if time.monotonic() > deadline:  # a peer that reads, but too slowly to wait for
            raise TimeoutError("timed out")
        counts.extend(map(sock.send, (view[sent:],)))
        sent += counts[-1]


def _finish(sock: socket.socket, rest: memoryview, io_timeout: float) -> None:
    """Write the rest of an interrupted frame; later interrupts wait for it. A socket error
    ends it (the caller's interrupt is raised, and the next call meets the error)."""
    counts: list[int] = []
    while True:
        try:
            _send_all(sock, rest[sum(counts):], counts, io_timeout)
            return
        except (OSError, ValueError):
            return
        except BaseException:  # another Ctrl+C: the first one is raised
            continue
