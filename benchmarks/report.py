"""Results -> markdown tables, a targets check and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["markdown", "plots", "targets"]


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, held) for every target of issue 7 that this run measured."""
    rows: list[tuple[str, str, bool | None]] = []
    lat = results.get("latency", {}).get("clients")
    if lat:
        it, cb = lat["iterator"], lat["callbacks"]
        rows.append(("iterator p50 ≤ 1.2x floor", f"{it['ratio_p50']:.2f}x",
                     it["ratio_p50"] <= 1.2))
        rows.append(("iterator p99 ≤ 1.5x floor", f"{it['ratio_p99']:.2f}x",
                     it["ratio_p99"] <= 1.5))
        rows.append(("callbacks p50 ≤ 1.5x floor", f"{cb['ratio_p50']:.2f}x",
                     cb["ratio_p50"] <= 1.5))
    thr = results.get("throughput")
    if thr:
        paced = thr["paced"]
        ours = paced["ours"]
        rows.append(("client CPU/h of paced audio ≤ 1.2x raw", f"{ours['ratio_to_raw']:.2f}x",
                     ours["ratio_to_raw"] <= 1.2))
        rows.append(("client CPU/h below the official SDK",
                     f"{ours['cpu_secs_per_audio_hour']:.1f} s vs "
                     f"{paced['sdk']['cpu_secs_per_audio_hour']:.1f} s",
                     ours["cpu_secs_per_audio_hour"] < paced["sdk"]["cpu_secs_per_audio_hour"]))
        x = thr["unpaced"]["ours"]["x_realtime"]
        rows.append(("unpaced ≥ 300x realtime", f"{x:.0f}x", x >= 300))
    scale = results.get("scale")
    if scale:
        at = [lv for lv in scale["levels"] if lv["sessions"] == 500]
        if at:
            lv = at[0]
            errors = sum(lv["errors"].values())
            p99 = lv["p99_us"] or float("inf")
            rows.append(("mock: 500 sessions, p99 ≤ 50 ms", _us(p99), p99 <= 50_000))
            rows.append(("mock: 500 sessions, no errors", str(errors), errors == 0))
            kib = lv["rss_per_session"] / 1024
            rows.append(("mock: ≤ 256 KiB per session", f"{kib:.0f} KiB", kib <= 256))
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The tables of BENCHMARKS.md."""
    m = results["machine"]
    out = [
        f"Machine: {m['cpu_model']}, {m['cpu_count']} cores, "
        f"{m.get('memory_gib', '?')} GiB, {m['implementation']} {m['python']}, "
        f"{m['platform']}. Mode: `{results['mode']}`.",
        "",
    ]
    rows = targets(results)
    if rows:
        out += ["### Targets", "", "| target | measured | held |", "|---|---|---|"]
        out += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in rows]
        out.append("")
    lat = results.get("latency")
    if lat:
        p = lat["params"]
        out += [
            "### 1. Event delivery latency (server send → user code)",
            "",
            f"{p['rounds']} interleaved rounds x {p['messages']} partials per client, one every "
            f"{p['interval'] * 1000:g} ms.",
            "",
            "| client | p50 | p90 | p99 | max | p50 / floor | p90 / floor | p99 / floor |",
            "|---|---|---|---|---|---|---|---|",
        ]
        names = {"raw": "raw websocket-client (floor)", "sdk": "official async SDK, callback",
                 "iterator": "scribe-sync iterator", "callbacks": "scribe-sync callbacks"}
        for name, s in lat["clients"].items():
            out.append(f"| {names[name]} | {_us(s['p50'])} | {_us(s['p90'])} | {_us(s['p99'])} "
                       f"| {_us(s['max'])} | {s['ratio_p50']:.2f} | {s['ratio_p90']:.2f} "
                       f"| {s['ratio_p99']:.2f} |")
        out.append("")
    rt = results.get("roundtrip")
    if rt:
        out += ["### 2. Round trips", "",
                "| measure | client | n | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|---|"]
        for name, s in rt["commit"].items():
            out.append(f"| commit() → CommittedTranscript | {name} | {s['n']} | {_us(s['p50'])} "
                       f"| {_us(s['p95'])} | {_us(s['p99'])} | {_us(s['max'])} |")
        v = rt["vad_time_to_final"]
        out.append(f"| VAD time to final (speech end → final; silence threshold 300 ms) "
                   f"| scribe-sync callbacks | {v['n']} | {_us(v.get('p50'))} "
                   f"| {_us(v.get('p95'))} | {_us(v.get('p99'))} | {_us(v.get('max'))} |")
        if v.get("missing"):
            out.append(f"\n{v['missing']} utterance(s) got no final.")
        out.append("")
    thr = results.get("throughput")
    if thr:
        p = thr["params"]
        out += ["### 3. Sending", "",
                f"Unpaced: {p['unpaced_secs']} s of audio in 100 ms chunks, until the last "
                f"commit is answered. Paced: {p['paced_secs']} s at real time, a commit every "
                "2 s; client process CPU (user + system).", "",
                "| client | unpaced x realtime | client CPU share while unpaced "
                "| paced CPU s per audio hour | paced CPU / raw |",
                "|---|---|---|---|---|"]
        for name in thr["unpaced"]:
            u, pc = thr["unpaced"][name], thr["paced"][name]
            out.append(f"| {name} | {u['x_realtime']:.0f}x | {u['client_cpu_share']:.0%} "
                       f"| {pc['cpu_secs_per_audio_hour']:.1f} | {pc['ratio_to_raw']:.2f} |")
        out.append("")
    scale = results.get("scale")
    if scale:
        out += ["### 4. Mock server scale (realtime-paced sessions)", "",
                f"Measured window: {scale['params']['seconds']:g} s after all sessions connected.",
                "", "| sessions | events | p50 | p90 | p99 | max | server CPU (1.0 = a core) "
                "| server RSS / session | errors | load generator CPU |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for lv in scale["levels"]:
            errors = ", ".join(f"{k}: {v}" for k, v in lv["errors"].items()) or "0"
            out.append(
                f"| {lv['sessions']} | {lv['messages']} | {_us(lv['p50_us'])} "
                f"| {_us(lv['p90_us'])} | {_us(lv['p99_us'])} | {_us(lv['max_us'])} "
                f"| {lv['server_cpu_share']:.2f} | {lv['rss_per_session'] / 1024:.0f} KiB "
                f"| {errors} | {lv['loadgen_cpu_share']:.2f} |")
        out.append("")
    mem = results.get("memory")
    if mem:
        out += ["### 5. Client memory per open session", "",
                f"{mem['params']['sessions']} sessions held open in a fresh process.", "",
                "| client | RSS per session |", "|---|---|"]
        for name, s in mem["clients"].items():
            out.append(f"| {name} | {s['per_session'] / 1024:.1f} KiB |")
        out.append("")
    return "\n".join(out)


def plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """latency.png (distribution per client) and scale.png (latency and CPU against N)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    lat = results.get("latency")
    if lat and lat.get("samples_us"):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, samples in lat["samples_us"].items():
            data = np.sort(np.asarray(samples))
            if data.size:
                ax.plot(data, np.arange(1, data.size + 1) / data.size, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("server send → user code (µs, log scale)")
        ax.set_ylabel("fraction of events")
        ax.set_title("Event delivery latency (CDF), same stream, interleaved rounds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = out_dir / "latency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    scale = results.get("scale")
    if scale and scale["levels"]:
        levels = scale["levels"]
        n = [lv["sessions"] for lv in levels]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
            ax1.plot(n, [(lv[key] or 0) / 1000 for lv in levels], marker="o", label=label)
        ax1.axhline(50, color="red", linestyle="--", linewidth=1, label="target p99")
        ax1.set_xscale("log")
        ax1.set_yscale("log")
        ax1.set_xlabel("concurrent sessions")
        ax1.set_ylabel("event latency (ms)")
        ax1.legend()
        ax1.grid(True, which="both", alpha=0.3)
        ax2.plot(n, [lv["server_cpu_share"] for lv in levels], marker="o", label="mock server")
        ax2.plot(n, [lv["loadgen_cpu_share"] for lv in levels], marker="s",
                 label="load generator")
        ax2.set_xscale("log")
        ax2.set_xlabel("concurrent sessions")
        ax2.set_ylabel("CPU (1.0 = one core)")
        ax2.legend()
        ax2.grid(True, which="both", alpha=0.3)
        fig.suptitle("Mock server under realtime-paced sessions")
        path = out_dir / "scale.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
