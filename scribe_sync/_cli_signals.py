"""Ctrl+C for the ``scribe-sync`` command: one SIGINT handler, installed once for the whole run.

A handler that raises ``KeyboardInterrupt`` anywhere can cut a ``finally:`` clause short before
its first line (the output file left as an empty ``.part``). Swapping handlers around each
teardown does not close that gap: the interrupt can land between ``finally:`` and the swap. So
the handler installed here raises only inside a *window*, a stretch of code that an interrupt
leaves in a known state (parsing the arguments, opening the source, connecting), and only counts
the interrupts that land anywhere else. It closes the window itself when it raises, so no path
leaves one open; teardowns run outside every window and cannot be interrupted. Where the command
waits on the session or on its workers, it polls :attr:`Interrupts.count` instead of opening a
window: a ``KeyboardInterrupt`` inside ``Condition.wait`` can leave its lock half released.

:meth:`Interrupts.run` is the pattern every caller uses: the body runs in a window, and whatever
ends it (an interrupt included, even one landing as the window closes) comes back as a value, so
the code after it (the teardown) always runs.

SIGTERM, SIGHUP and SIGQUIT (``kill``, a closed terminal, Ctrl+\\) take the same road, as two
Ctrl+C at once:
nothing new starts, what is in flight is abandoned, what was transcribed is kept, and the
output is renamed into place or left untouched. Left at their default, they killed the process
mid-write, leaving ``.part`` files and orphaned children (ffmpeg, the bench's mock server).
:attr:`Interrupts.signal` then says which one came, for the exit code (128 + its number).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Generic, TypeVar

__all__ = ["Interrupts", "Outcome"]

T = TypeVar("T")

#: Signals that end the run the way a second Ctrl+C does (where the platform has them).
_TERMINATING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


class Outcome(Generic[T]):
    """What a window's body gave: its value, or the exception that ended it."""

    __slots__ = ("error", "value")

    def __init__(self, value: T | None, error: BaseException | None) -> None:
        self.value = value
        self.error = error

    @property
    def interrupted(self) -> bool:
        return isinstance(self.error, KeyboardInterrupt)


class Interrupts:
    """Counts SIGINTs; raises ``KeyboardInterrupt`` only inside a window (see the module doc).

    Off the main thread :meth:`install` does nothing and windows are plain blocks
    (``KeyboardInterrupt`` is then raised wherever Python raises it). When SIGINT was ignored at
    start it stays ignored; SIGTERM, SIGHUP and SIGQUIT are still taken over.
    """

    def __init__(self) -> None:
        self.count = 0  # SIGINTs received since install(); only the handler writes it
        self._raising = False  # inside a window: the next SIGINT raises
        self._previous: signal._HANDLER = None
        self._installed = False
        self._sigint = False  # the SIGINT handler is ours (SIGINT was not ignored at start)
        self.signal: int | None = None  # SIGTERM, SIGHUP or SIGQUIT, once one came
        self._terminating: dict[int, signal._HANDLER] = {}

    def install(self) -> None:
        """Take over SIGINT (main thread only); :meth:`uninstall` gives it back."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        self.count = 0
        self.signal = None
        self._installed = True
        # Started with SIGINT ignored (a background job of a script, nohup): it stays ignored,
        # but a kill still tears the run down cleanly (it used to kill it mid-write).
        self._sigint = previous is not signal.SIG_IGN and previous is not None
        if self._sigint:
            self._previous = previous
            signal.signal(signal.SIGINT, self._handle)
        for signum in _TERMINATING:
            before = signal.getsignal(signum)
            if before is not signal.SIG_IGN and before is not None:  # nohup: stay immune
                self._terminating[signum] = before
                signal.signal(signum, self._terminate)

    def uninstall(self, *, ignore: bool = False) -> None:
        """Give SIGINT back to the previous handler, or, with ``ignore``, ignore it from now on:
        a process whose command is over must not die of a late Ctrl+C (the interpreter's
        shutdown sets a Python handler back to the default, which kills with no exit code)."""
        if self._installed:
            self._installed = False
            if self._sigint:
                signal.signal(signal.SIGINT, signal.SIG_IGN if ignore else self._previous)
            for signum, before in self._terminating.items():
                signal.signal(signum, signal.SIG_IGN if ignore else before)
            self._terminating.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self._raising:
            self._raising = False  # closed here, so a window can never be left open
            raise KeyboardInterrupt

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        # As two Ctrl+C: past every threshold (the batch's second, the single run's second).
        self.signal = signum
        self.count += 2
        if self._raising:
            self._raising = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        """A block in which a SIGINT raises ``KeyboardInterrupt``. Do not nest windows."""
        if not self._installed:
            yield
            return
        self._raising = True
        try:
            yield
        finally:
            self._raising = False

    def run(self, body: Callable[[], T]) -> Outcome[T]:
        """Run ``body`` in a window; never raises (the exception is in the outcome).

        An interrupt landing as the window closes after ``body`` returned gives an outcome
        with both the value and the error, so the caller can still release what it holds.
        """
        outcome: Outcome[T] = Outcome(None, None)
        try:
            with self.window():
                outcome.value = body()
        except BaseException as exc:  # handed back to the caller, who re-raises it
            outcome.error = exc
        return outcome
