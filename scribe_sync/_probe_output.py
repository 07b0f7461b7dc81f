"""Where ``scribe-sync bench`` writes: its report on stdout, ``--plot`` and ``--record-timing``.

The same rules as ``transcribe``'s outputs, so that a bench that ran for minutes never ends in
an error it could have given at the start: every output is checked before the first session
(an unsupported plot suffix is exit 2, an unwritable file or folder exit 6, an output naming
the input exit 2), written whole or not at all, and a device, a pipe or a symlink is written
through, never replaced. A stdout that cannot be written is exit 6 in one line.
"""

from __future__ import annotations

import io
import json
import os
from typing import IO

from ._atomic import write_atomically
from ._cli_io import Output, OutputError, check_not_input, check_writable, open_output
from ._probe_report import BenchReport, timing_profile, write_plot
from .errors import ConfigError

__all__ = ["check_outputs", "write_outputs"]


def plot_formats() -> list[str]:
    """The image formats matplotlib writes without a backend of its own (the suffixes)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def _check_plot(path: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'scribe-sync[bench]'",
                          option="plot") from None
    # The format is the requested name's suffix, checked now: matplotlib would only refuse it
    # once every session has run.
    formats = plot_formats()
    suffix = os.path.splitext(path)[1][1:].lower()
    if suffix not in formats:
        raise ConfigError(
            f"--plot {path}: the image format comes from the file name's suffix, one of "
            + ", ".join("." + name for name in formats), option="plot")


def check_outputs(plot: str | None, record_timing: str | None, source: str | None) -> None:
    """Refuse now what could not be written at the end of the run.

    Raises:
        ConfigError: (exit 2) a plot suffix matplotlib cannot write, no matplotlib, or an
            output naming the input.
        OutputError: (exit 6) an output, or its folder, that cannot be written.
    """
    if plot is not None:
        _check_plot(plot)
    for flag, output in (("--plot", plot), ("--record-timing", record_timing)):
        if output is None:
            continue
        if source is not None:  # transcribe's -o rule: never replace the audio it measures
            check_not_input(output, [source], flag)
        check_writable(output, f"{flag} {output}")


def _write_plot(report: BenchReport, path: str) -> None:
    """The plot, whole or not at all: drawn in memory in the suffix's format, then written
    atomically (through a symlink; a device or a pipe directly)."""
    image = io.BytesIO()
    write_plot(report, image, format=os.path.splitext(path)[1][1:].lower())
    try:
        write_atomically(path, image.getvalue())
    except OSError as exc:
        raise OutputError(path, exc) from None


def _write_timing(report: BenchReport, path: str) -> None:
    """The timing profile, whole or not at all (a temporary file renamed into place)."""
    out = open_output(path)
    try:
        out.write(json.dumps(timing_profile(report), indent=1) + "\n")
    except BaseException:
        out.finish(False)
        raise
    out.finish(True)


def write_outputs(report: BenchReport, text: str, out: IO[str] | None, plot: str | None,
                  record_timing: str | None) -> None:
    """``text`` (the table or the JSON) to ``out`` (default: stdout, a failure to write it is
    exit 6), then the plot and the timing profile."""
    if out is None:
        stdout = Output.stdout()
        stdout.write(text)
        stdout.finish(True)
    else:
        out.write(text)
    if plot is not None:
        _write_plot(report, plot)
    if record_timing is not None:
        _write_timing(report, record_timing)
