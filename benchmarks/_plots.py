"""PNG plots of a results dict (matplotlib, Agg backend): round-trip CDFs, concurrency, scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plots"]


def _save(fig: Any, path: Path, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)


def _log_y(ax: Any) -> None:
    """Log scale only if something positive was plotted (a quick run may have no sample)."""
    ys = [y for line in ax.get_lines() for y in np.asarray(line.get_ydata(), dtype=float)]
    if any(np.isfinite(y) and y > 0 for y in ys):
        ax.set_yscale("log")


def _roundtrip(rt: dict[str, Any], path: Path, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    servers = rt["samples_us"]
    fig, axes = plt.subplots(1, len(servers), figsize=(6 * len(servers), 4.5), squeeze=False)
    for ax, (server, clients) in zip(axes[0], servers.items(), strict=True):
        for name, samples in clients.items():
            data = np.sort(np.asarray(samples, dtype=np.float64))
            if data.size:
                ax.plot(data, np.arange(1, data.size + 1) / data.size, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("commit() → CommittedTranscript in user code (µs, log scale)")
        ax.set_ylabel("fraction of samples")
        ax.set_title(f"{server} server")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Round trip CDFs, contenders interleaved per sample")
    _save(fig, path, written)


def _concurrency(conc: dict[str, Any], path: Path, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    levels = conc["levels"]
    n = [lv["sessions"] for lv in levels]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    clients = conc.get("clients", ("raw", "ours"))
    for i, name in enumerate(clients):
        marker, color = "os^vD"[i % 5], f"C{i}"
        ax1.plot(n, [lv[name]["cpu_secs_per_audio_hour"] for lv in levels], marker=marker,
                 color=color, label=name)
        for key, style in (("p50", "-"), ("p99", "--")):
            ax2.plot(n, [(lv[name].get(key) or np.nan) / 1000 for lv in levels], style,
                     marker=marker, color=color, label=f"{name} {key}")
    ax1.set_ylabel("client CPU s per audio hour")
    ax2.set_ylabel("commit round trip (ms)")
    _log_y(ax2)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent sessions in one process")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Concurrent real-time sessions in one client process")
    _save(fig, path, written)


def _scale(scale: dict[str, Any], path: Path, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    levels = scale["levels"]
    n = [lv["sessions"] for lv in levels]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
        ax1.plot(n, [(lv[key] or np.nan) / 1000 for lv in levels], marker="o", label=label)
    ax1.axhline(50, color="red", linestyle="--", linewidth=1, label="target p99")
    _log_y(ax1)
    ax1.set_ylabel("commit round trip (ms)")
    ax2.plot(n, [lv["server_cpu_share"] for lv in levels], marker="o", label="mock server")
    ax2.plot(n, [lv["loadgen_cpu_share"] for lv in levels], marker="s", label="load generator")
    ax2.set_ylabel("CPU (1.0 = one core)")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent sessions")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Mock server under real-time paced sessions")
    _save(fig, path, written)


def plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """roundtrip.png, concurrency.png and scale.png for whichever benchmarks ran."""
    import matplotlib

    matplotlib.use("Agg")
    written: list[Path] = []
    if results.get("roundtrip", {}).get("samples_us"):
        _roundtrip(results["roundtrip"], out_dir / "roundtrip.png", written)
    if results.get("concurrency", {}).get("levels"):
        _concurrency(results["concurrency"], out_dir / "concurrency.png", written)
    if results.get("scale", {}).get("levels"):
        _scale(results["scale"], out_dir / "scale.png", written)
    return written
