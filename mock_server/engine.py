"""Per-connection rules of the mock, sans-I/O: feed frames and times in, get actions out.

:class:`Engine` knows nothing about sockets or event loops. The network side
(:mod:`mock_server.server`) calls :meth:`Engine.start` once the socket is open,
:meth:`Engine.receive` for every frame, and :meth:`Engine.tick` when :meth:`Engine.deadline`
passes, and executes the returned actions (:mod:`mock_server.actions`): journal records at
once, then :class:`Send` (honouring its ``delay``) / :class:`Close` / :class:`Drop` in order.
The engine never reads a clock and never writes the journal itself.

Times: ``now`` arguments are monotonic wall-clock seconds (idle and session limits); the
*session clock* of word timestamps and of the audio-based triggers is the position in the
received audio (seconds since the first audio byte), so results do not depend on how fast a
client streams.
"""

from __future__ import annotations

import random
import secrets

from .actions import (
    DEFAULT_ERROR_TEXTS,
    Action,
    AudioAccepted,
    Close,
    Committed,
    Drop,
    Record,
    Send,
    SessionStarted,
    error_actions,
)
from .answers import segment_answer
from .audiocheck import heard_as
from .faults import Fault, FaultEffects
from .frames import LATE_PREVIOUS_TEXT, BadFrame, frame_record, parse_chunk, sample_rate_warning
from .params import SessionParams
from .scenarios import Scenario
from .script import ScriptedRecognizer
from .settings import Settings
from .timing import Latencies
from .transcriber import Transcriber
from .vad import Frame, VoiceActivityDetector

__all__ = ["Action", "Close", "Drop", "Engine", "Send", "error_actions"]


class Engine:
    """The rules of one connection. Not thread-safe; one engine per connection."""

    def __init__(
        self,
        settings: Settings,
        params: SessionParams,
        *,
        index: int = 1,
        scenario: Scenario | None = None,
        scenario_session: int = 1,
        now: float = 0.0,
    ) -> None:
        self.settings = settings
        self.params = params
        self.index = index  # the connection's number on the server (seeds the live timing)
        self.chunks = 0  # input_audio_chunk frames accepted
        self.commits = 0  # commits answered
        self.scenario = scenario
        self.session_id = secrets.token_hex(16)
        self.closed = False  # a Close or Drop was emitted; nothing more will be
        self.stalled = False  # "stop answering": read and journal, never send

        transcript = settings.transcript
        if scenario is not None and scenario.transcript is not None:
            transcript = scenario.transcript
        self._vad = VoiceActivityDetector(
            sample_rate=params.sample_rate,
            bytes_per_sample=params.bytes_per_sample,
            threshold=params.vad_threshold,
            min_speech_ms=params.min_speech_duration_ms,
            min_silence_ms=params.min_silence_duration_ms,
        )
        word_secs = settings.word_ms / 1000.0
        self._recognizer: Transcriber | ScriptedRecognizer = (
            Transcriber(word_secs=word_secs)
            if transcript is None
            else ScriptedRecognizer(transcript, word_secs=word_secs)
        )
        self._latency = Latencies(settings.timing_profile, f"{settings.timing_seed}:{index}")
        self._bytes_per_sec = params.sample_rate * params.bytes_per_sample
        self._strict_audio = settings.audio_check == "strict"
        self._journal_frames = settings.frame_policy.keeps_frames
        self._audio_bytes = 0
        self._committed_upto = 0.0  # session-clock point of the last commit
        self._segment_speech = False
        self._silence_since: float | None = None  # session clock where the current silence began
        self._last_partial = ""
        self._next_partial_at = 0.0
        self._warm_secs = 0.0
        self._last_audio_wall: float | None = None
        self._started_wall = now
        self._last_input_wall = now

        faults = () if scenario is None else scenario.faults
        self._faults: list[Fault] = [
            f for f in faults if f.session is None or f.session == scenario_session
        ]
        self._warned_sample_rate = False  # the sample_rate mismatch warning went out
        self._armed: list[Fault] = []  # answer faults waiting for the next commit
        self._stall_at: int | None = None
        self._rng: random.Random | None = None
        if scenario is not None and scenario.random_faults is not None:
            self._rng = random.Random(f"{scenario.random_faults.seed}:{scenario_session}")

    # -----------------------------------------------------------------------------------------
    # Inputs

    def start(self, now: float) -> list[Action]:
        """The socket is open: connect-time faults, then ``session_started``, then start faults."""
        out: list[Action] = []
        self._run_faults(out, "connect")
        if self.closed or self.stalled:
            return self._finish(out)  # rejected, or a black hole that never starts
        out.append(SessionStarted(self.session_id))
        out.append(
            Send(
                {
                    "message_type": "session_started",
                    "session_id": self.session_id,
                    "config": self.params.config(),
                }
            )
        )
        self._started_wall = self._last_input_wall = now
        self._run_faults(out, "start")
        return self._finish(out)

    def receive(self, data: str | bytes, now: float) -> list[Action]:
        """One frame from the client."""
        if self.closed:
            return []
        out: list[Action] = []
        try:
            obj, audio = parse_chunk(data)
        except BadFrame as exc:
            out.append(frame_record(data, None, len(data), now, keep=self._journal_frames))
            # Frame-level input errors do not close the session (docs/protocol.md §5, CAP-I).
            out.append(Send({"message_type": "input_error", "error": str(exc)}))
            return self._finish(out)
        out.append(frame_record(obj, audio, len(data), now, keep=self._journal_frames))
        self._last_input_wall = now

        previous_text = obj.get("previous_text")
        if previous_text is not None and self.chunks > 0:
            # CAP-H: rejected, and the audio of the rejected frame is discarded.
            out.append(Send({"message_type": "input_error", "error": LATE_PREVIOUS_TEXT}))
            return self._finish(out)
        if isinstance(previous_text, str) and isinstance(self._recognizer, ScriptedRecognizer):
            self._recognizer.resume(previous_text)  # a reconnecting client continues its script
        sample_rate = obj.get("sample_rate")
        if (
            sample_rate is not None
            and sample_rate != self.params.sample_rate
            and not self._warned_sample_rate
        ):
            # Undocumented live (docs/protocol.md Q18). The query's audio_format fixes how audio is
            # decoded, so the mock keeps the audio, decodes it as that format and says so once
            # with a `warning` (a type SDK 2.78 knows, contents undocumented; text invented).
            # Dropping the chunk would silently lose every chunk of a misconfigured client.
            self._warned_sample_rate = True
            text = sample_rate_warning(sample_rate, self.params.audio_format,
                                       self.params.sample_rate)
            out.append(Send({"message_type": "warning", "warning": text}))
        limit = self.settings.max_chunk_bytes
        if limit is not None and len(audio) > limit:
            # invented text
            text = f"Audio chunk of {len(audio)} bytes exceeds the maximum of {limit} bytes."
            out.extend(error_actions("chunk_size_exceeded", text))
            self.closed = True
            return out

        self.chunks += 1
        out.append(AudioAccepted(audio))
        if audio:
            self._feed_audio(audio, now, out)
        if obj.get("commit") is True and not self.closed:
            self._manual_commit(out)
        if not self.closed:
            self._run_faults(out, "chunks")
            self._run_faults(out, "audio")
            self._random_fault(out)
        return self._finish(out)

    def deadline(self) -> float | None:
        """The monotonic time at which :meth:`tick` has something to do, if any."""
        if self.closed or self.stalled:
            return None
        idle, limit = self.settings.idle_timeout_secs, self.settings.max_session_secs
        times = [] if idle is None else [self._last_input_wall + idle]
        if limit is not None:
            times.append(self._started_wall + limit)
        return min(times, default=None)

    def tick(self, now: float) -> list[Action]:
        """Time passed: enforce the session length and idle limits."""
        if self.closed or self.stalled:
            return []
        out: list[Action] = []
        limit = self.settings.max_session_secs
        idle = self.settings.idle_timeout_secs
        if limit is not None and now >= self._started_wall + limit:
            out.extend(
                error_actions(
                    "session_time_limit_exceeded",
                    DEFAULT_ERROR_TEXTS["session_time_limit_exceeded"],
                )
            )
        elif idle is not None and now >= self._last_input_wall + idle:
            if self.settings.idle_error:
                out.extend(
                    error_actions(
                        "insufficient_audio_activity",
                        DEFAULT_ERROR_TEXTS["insufficient_audio_activity"],
                    )
                )
            else:
                # Observed live: a bare close 1000 with no message first (docs/protocol.md §6, Q4).
                out.append(Close(1000, ""))
        return self._finish(out)

    # -----------------------------------------------------------------------------------------
    # Audio, partials, commits

    @property
    def audio_secs(self) -> float:
        """Seconds of audio received (the session clock)."""
        return self._audio_bytes / self._bytes_per_sec

    def _feed_audio(self, audio: bytes, now: float, out: list[Action]) -> None:
        duration = len(audio) / self._bytes_per_sec
        if self._strict_audio:  # audio_check="strict"
            audio = heard_as(audio, self.params.sample_rate, self.params.bytes_per_sample)
        gap = self.settings.warmup_reset_secs
        if self._last_audio_wall is not None and now - self._last_audio_wall > gap:
            self._warm_secs = 0.0  # after a pause the warm-up applies again (§6)
        self._last_audio_wall = now
        self._warm_secs += duration
        self._audio_bytes += len(audio)

        vad_commit = self.params.vad
        # The live profile's VAD ignores the threshold, as observed (mock_server.timing, G3).
        silence_needed = self._latency.profile.vad_silence
        if silence_needed is None:
            silence_needed = self.params.vad_silence_threshold_secs
        auto = self.settings.auto_commit_secs
        recognizer = self._recognizer
        heard: list[Frame] = []  # frames not yet given to the recognizer (one call per chunk)
        for frame in self._vad.feed(audio):
            heard.append(frame)
            if frame.speech:
                self._segment_speech = True
                self._silence_since = None
            elif self._silence_since is None:
                self._silence_since = frame.start
            by_vad = (
                vad_commit
                and self._segment_speech
                and self._silence_since is not None
                and frame.end - self._silence_since >= silence_needed - 1e-9
            )
            if by_vad or (auto is not None and frame.end - self._committed_upto >= auto - 1e-9):
                recognizer.feed(heard)
                heard = []
                # The VAD's commit, or the server's auto-commit (§6), usually during speech.
                cut = not by_vad and self._vad.in_speech
                self._commit(frame.end, out, vad=by_vad, cut=cut)
            if self.closed:
                return
        if heard:
            recognizer.feed(heard)

        revealed = self._recognizer.partial()
        if (
            self._warm_secs >= self.settings.warmup_secs - 1e-9
            and self.audio_secs >= self._next_partial_at
            and revealed
        ):
            text = " ".join(revealed)
            if text != self._last_partial:
                out.append(Send({"message_type": "partial_transcript", "text": text}))
                self._last_partial = text
                self._next_partial_at = self.audio_secs + self.settings.partial_interval_secs

    def _manual_commit(self, out: list[Action]) -> None:
        uncommitted = self.audio_secs - self._committed_upto
        minimum = self.settings.min_commit_secs
        if uncommitted < minimum - 1e-9:
            # Live text (elevenlabs/packages#378), duration formatted %.2f.
            text = (
                f"Commit request ignored: only {uncommitted:.2f}s of uncommitted audio. "
                f"You need at least {minimum:g}s of uncommitted audio before committing."
            )
            out.extend(
                error_actions(
                    "commit_throttled", text, close=self.settings.close_on_commit_throttled
                )
            )
            if self.settings.close_on_commit_throttled:
                self.closed = True
            return
        # Still hearing speech: the commit cuts the utterance (the rest comes later, G1).
        cut = self._vad.in_speech
        self._recognizer.feed(self._vad.flush())
        self._commit(self.audio_secs, out, cut=cut)

    def _commit(self, at: float, out: list[Action], *, vad: bool = False, cut: bool = False
                ) -> None:
        words, utterance = self._recognizer.commit(cut=cut)
        self._segment_speech = False
        self._last_partial = ""
        self._committed_upto = at
        self.commits += 1
        out.append(Committed())
        answer = segment_answer(
            self.params,
            words,
            utterance,
            segment=self.commits,
            echo_partial=self.settings.echo_partial,
            language_format=self.settings.language_format,
        )
        effects = FaultEffects(answer=answer)
        armed, self._armed = self._armed, []
        for fault in armed:
            fault.apply(effects)
        self._run_faults(out, "commit", effects, delay=self._latency.commit(vad=vad))

    # -----------------------------------------------------------------------------------------
    # Faults

    def _run_faults(
        self,
        out: list[Action],
        when: str,
        effects: FaultEffects | None = None,
        *,
        delay: float = 0.0,
    ) -> None:
        """Apply the scripted faults due at this trigger point (each fires once)."""
        if self.closed or (effects is None and not self._faults):
            return  # nothing can fire (the common case, checked for every chunk)
        effects = effects or FaultEffects()
        for fault in list(self._faults):
            if effects.ended:
                break
            if fault.due(
                when,
                chunks=self.chunks,
                commits=self.commits,
                audio_secs=self.audio_secs,
            ):
                self._faults.remove(fault)
                fault.apply(effects)
        self._perform(effects, out, delay)

    def _random_fault(self, out: list[Action]) -> None:
        if self._rng is None or self.scenario is None or self.scenario.random_faults is None:
            return
        fault = self.scenario.random_faults.draw(self._rng)
        if fault is not None:
            effects = FaultEffects()
            fault.apply(effects)
            self._perform(effects, out)

    def _perform(self, effects: FaultEffects, out: list[Action], delay: float = 0.0) -> None:
        """Emit what faults decided; ``delay``: the timing profile's delay of a commit answer
        (the echo partial comes a little later; what follows the answer waits for it)."""
        answer = effects.answer or []
        for i, message in enumerate(answer):
            if i and i == len(answer) - 1 and message["message_type"] == "partial_transcript":
                delay += self._latency.echo()  # the echo partial
            out.append(Send(message, delay))
        out.extend(Send(a.payload, delay) if isinstance(a, Send) else a for a in effects.out)
        self._armed.extend(effects.armed)
        if effects.stall and not self.stalled:  # a second stall must not move the cut
            self.stalled = True
            self._stall_at = len(out)
        if any(not isinstance(action, Send) for action in effects.out):
            self.closed = True

    def _finish(self, out: list[Action]) -> list[Action]:
        if self.stalled:
            # "Stop answering": what was decided before the stall goes out, nothing after it.
            # Journal records are kept: a stalled session still reads and journals.
            cut, self._stall_at = self._stall_at, None
            out = [a for i, a in enumerate(out) if isinstance(a, Record) or (cut and i < cut)]
        for action in out:
            if isinstance(action, (Close, Drop)):
                self.closed = True
        return out
