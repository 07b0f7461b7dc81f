"""What an ending means, sans I/O: the table that turns how a connection ended into the error
a session ends with (or ``None``, a normal ending).

The first row that applies decides:

=====================================================  ==========================================
how the connection ended                                the session ends with
=====================================================  ==========================================
a local failure closed it (a source that failed)       that failure
``close()`` began before the ending                    nothing: a normal ending
we closed it for a WebSocket protocol violation or     that ``ConnectionClosedError`` (code 1002
an oversized message                                   or 1009): our decision, not the server's
anything else, after ``finish()`` has every answer    nothing: the audio is all accounted for
                                                       (a late error, a close or a reset)
the last message was an ``ErrorEvent``                 its ``ServerError`` subclass, whatever
                                                       followed: a close frame (its code and
                                                       reason are kept) or a transport failure
                                                       (kept as ``__cause__``)
the transport failed (no close frame, a send that      that ``ConnectionClosedError`` (code 1006)
timed out, a stalled commit)
a close frame with code 1000 or 1005                   nothing: a normal ending
any other close frame                                  ``ConnectionClosedError(code, reason)``
=====================================================  ==========================================

When no reconnect follows and commits are unanswered (not after ``close()``), a normal ending
or a ``ConnectionClosedError`` of the last three rows becomes an
``IncompleteTranscriptError`` with the same code, carrying the unanswered seconds (caused by
that error, if any): the transcript's tail is missing (:func:`final_error`).

Whether an ending is retried is :meth:`ReconnectPolicy.retryable`'s table: a server error
decides by its type, so ``quota_exceeded`` followed by a reset is never retried.
"""

from __future__ import annotations

from typing import Final

from .errors import ConnectionClosedError, IncompleteTranscriptError, ScribeError, ServerError
from .messages import ErrorEvent

__all__ = ["ABNORMAL_CLOSURE", "LATE_FINALIZATION_ERRORS", "ending_error", "final_error"]

ABNORMAL_CLOSURE: Final = 1006
#: After the final commit is answered, these errors mean "nothing more to do", not failure
#: (the server may answer a trailing commit or idle socket with them; docs/protocol.md §6). Every
#: ending after finish() has every answer is normal, these included.
LATE_FINALIZATION_ERRORS: Final = frozenset(
    {"commit_throttled", "input_error", "insufficient_audio_activity"}
)
_NORMAL_CLOSE_CODES: Final = frozenset({1000, 1005})


def ending_error(code: int | None, reason: str, failure: ScribeError | None, *, closing: bool,
                 local: ScribeError | None, last_error: ErrorEvent | None,
                 finished: bool) -> ScribeError | None:
    """What an ending means for the caller (the table in the module docstring).

    Args:
        code, reason: the close frame's, if one came.
        failure: the transport failure, if the connection failed.
        closing: ``close()`` began before the ending.
        local: a local failure that closed the session (a source that failed).
        last_error: the last message, if it was an ``ErrorEvent``.
        finished: ``finish()`` was called and every commit has all its answers.
    """
    if local is not None:
        return local
    if closing:
        return None
    if isinstance(failure, ConnectionClosedError) and failure.code not in (ABNORMAL_CLOSURE,
                                                                        None):
        return failure
    if finished:
        # The audio is all accounted for, so whatever ends the connection now (a late error,
        # a close, a reset) ends the session normally.
        return None
    if last_error is not None:
        error = ServerError.from_event(last_error, close_code=None if failure else code,
                                       close_reason=None if failure else reason)
        error.__cause__ = failure
        return error
    if failure is not None:
        return failure
    if code in _NORMAL_CLOSE_CODES:
        return None
    return ConnectionClosedError(
        f"the server closed the connection with code {code}" + (f" ({reason})" if reason else ""),
        code=code,
        reason=reason,
    )


def final_error(error: ScribeError | None, code: int | None, reason: str, *, closing: bool,
                unanswered: int, unanswered_seconds: float) -> ScribeError | None:
    """The error a session ends with once no reconnect follows: an ending that looks normal
    while commits are unanswered loses the transcript's tail, which is an error
    (``close()`` discards what is unanswered by request, so not then). A lost connection
    (a reset, a close with an error code) with commits unanswered says so too: it becomes an
    ``IncompleteTranscriptError`` (a ``ConnectionClosedError``) carrying the unanswered
    seconds, caused by the failure."""
    if closing or unanswered <= 0:
        return error
    if type(error) is ConnectionClosedError:
        lost = IncompleteTranscriptError(
            f"{error}, before {unanswered} commit(s) were answered, {unanswered_seconds:.1f} s "
            "of audio; the transcript tail is missing",
            unanswered_seconds=unanswered_seconds, code=error.code, reason=error.reason)
        lost.__cause__ = error
        return lost
    if error is not None:
        return error
    return IncompleteTranscriptError(
        f"the server ended the session (code {code}) before answering {unanswered} commit(s), "
        f"{unanswered_seconds:.1f} s of audio; the transcript tail is missing",
        unanswered_seconds=unanswered_seconds, code=code, reason=reason or None)
