"""Markdown tables of one results dict, one function per benchmark (no targets, no files)."""

from __future__ import annotations

from typing import Any

__all__ = ["NAMES", "SECTIONS", "fmt_us"]

NAMES = {"raw": "raw websocket-client loop", "threaded": "20-line reader thread + queue.Queue",
         "wssync": "websockets.sync.client", "iterator": "scribe-sync iterator",
         "callbacks": "scribe-sync callbacks", "sdk": "official async SDK"}


def fmt_us(value: float | None) -> str:
    """A duration given in µs, in µs or ms."""
    if value is None:
        return "-"
    return f"{value / 1000:.2f} ms" if abs(value) >= 1000 else f"{value:.0f} µs"


def _roundtrip(rt: dict[str, Any]) -> list[str]:
    p = rt["params"]
    samples = ", ".join(f"{k} server {v}" for k, v in p["samples"].items())
    out = ["### 1. Round trip: `commit()` → `CommittedTranscript` in user code", "",
           f"Samples per contender: {samples} ({p['warmup']} warm-up samples dropped), "
           "interleaved in rotating order; each contender in its own process, the server in "
           "another. Paired Δ: the median over samples of (contender - baseline) in the same "
           "sample; the baseline of the targets is the 20-line reader-thread client.", ""]
    for server, clients in rt["servers"].items():
        label = ("echo-commit server (pure client cost; the targets)" if server == "echo"
                 else "mock (VAD, transcriber, partials)")
        out += [f"**Against the {label}**", "",
                "| client | p50 | p90 | p99 | max | p50 / raw | p99 / raw | p50 / 20-line "
                "| paired Δ vs raw | paired Δ vs 20-line |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for name, s in clients.items():
            out.append(
                f"| {NAMES.get(name, name)} | {fmt_us(s['p50'])} | {fmt_us(s['p90'])} "
                f"| {fmt_us(s['p99'])} | {fmt_us(s['max'])} | {s['p50_to_raw']:.2f} "
                f"| {s['p99_to_raw']:.2f} | {s['p50_to_threaded']:.2f} "
                f"| {s['paired_minus_raw_us']:+.0f} µs "
                f"| {s['paired_minus_threaded_us']:+.0f} µs "
                f"({s.get('paired_to_threaded', 0.0):+.1%}) |")
        out.append("")
    return out


def _cpu(cpu: dict[str, Any]) -> list[str]:
    p = cpu["params"]
    out = ["### 2. Client CPU per hour of audio (client process only)", "",
           f"Unpaced: {p['unpaced_secs']} s of audio, {p['unpaced_runs']} run(s) per client, "
           f"one client at a time, order rotating (median run). Paced: {p['paced_secs']} s at "
           "real time, all clients at once. 100 ms chunks, a commit every 2 s, through the "
           "mock. scribe-sync's iterator: a sending thread, `for event in session` in the "
           "caller; its callbacks: `send_audio` from the caller's thread.", "",
           "| client | unpaced CPU s / audio h | unpaced / raw | unpaced runs "
           "| unpaced x real time | context switches / chunk, unpaced "
           "| paced CPU s / audio h | paced / raw |",
           "|---|---|---|---|---|---|---|---|"]
    for name in cpu["unpaced"]:
        u, pc = cpu["unpaced"][name], cpu["paced"][name]
        runs = ", ".join(f"{v:.1f}" for v in u["runs_cpu_secs_per_audio_hour"])
        out.append(f"| {NAMES.get(name, name)} | {u['cpu_secs_per_audio_hour']:.1f} "
                   f"| {u['ratio_to_raw']:.2f} | {runs} | {u['x_realtime']:.0f}x "
                   f"| {u.get('switches_per_chunk', float('nan')):.2f} "
                   f"| {pc['cpu_secs_per_audio_hour']:.1f} | {pc['ratio_to_raw']:.2f} |")
    return [*out, ""]


def _concurrency(conc: dict[str, Any]) -> list[str]:
    out = ["### 3. Concurrent sessions in one client process", "",
           "Real-time paced, one user thread per session, a commit every 0.5 s, against the "
           "echo-commit server (a partial every 0.3 s of audio). Threads are counted during "
           "the window; \"library threads\" are those beyond the user's one per session. "
           "Window per level (s): "
           + ", ".join(f"{k} sessions {v:g}" for k, v in conc["params"]["levels"].items())
           + f", in {conc['params'].get('rounds', 1)} round(s) with every client once per "
           "round, the order rotating. Figures are medians over the rounds; the ratios to raw "
           "are medians of ratios paired round by round.", "",
           "| sessions | client | CPU s / audio h | CPU / raw | process CPU (1.0 = a core) "
           "| round trips | p50 | p99 | p99 / raw | p99 by round | library threads / session "
           "| RSS / session |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in conc["levels"]:
        for name in conc.get("clients", ("raw", "ours")):
            s = lv[name]
            ratio = f"{s['p99_to_raw']:.2f}" if "p99_to_raw" in s else "-"
            out.append(
                f"| {lv['sessions']} | {NAMES.get(name, name)} "
                f"| {s['cpu_secs_per_audio_hour']:.1f} | {s.get('cpu_to_raw', 1.0):.2f} "
                f"| {s['cpu_share']:.2f} | {s['n']} | {fmt_us(s.get('p50'))} "
                f"| {fmt_us(s.get('p99'))} | {ratio} "
                f"| {', '.join(fmt_us(p) for p in s.get('p99_rounds', ()))} "
                f"| {s.get('library_threads_per_session', float('nan')):.2f} "
                f"| {s['rss_per_session'] / 1024:.0f} KiB |")
    return [*out, ""]


def _figures(title: str, section: dict[str, Any]) -> list[str]:
    """Every numeric figure a module returned, by key (the harness's own keys left out)."""
    out = [title, "", "| figure | value |", "|---|---|"]
    for key, value in section.items():
        if key == "elapsed_secs" or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out.append(f"| `{key}` | {value:.3g} |")
    return [*out, ""]


def _micro(micro: dict[str, Any]) -> list[str]:
    return _figures("### 4. Micro-benchmarks (`benchmarks/micro.py`)", micro)


def _batch(batch: dict[str, Any]) -> list[str]:
    return _figures("### 5. Many files at once (`benchmarks/batch.py`)", batch)


def _scale(scale: dict[str, Any]) -> list[str]:
    params = scale.get("params", {})
    out = ["### 6. Mock server scale (real-time paced sessions)", "",
           f"Measured window: {params.get('seconds', '?')} s after all sessions connected, "
           f"{params.get('workers', 1)} worker(s); latency is the commit round trip seen by the "
           "load generator.", "",
           "| sessions | round trips | p50 | p90 | p99 | max | server CPU (1.0 = a core) "
           "| server CPU / frame | server RSS / session | errors | load generator CPU |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for lv in scale.get("levels", []):
        errors = ", ".join(f"{k}: {v}" for k, v in lv.get("errors", {}).items()) or "0"
        per_frame = lv.get("server_cpu_us_per_frame")
        out.append(
            f"| {lv['sessions']} | {lv.get('round_trips', '-')} | {fmt_us(lv.get('p50_us'))} "
            f"| {fmt_us(lv.get('p90_us'))} | {fmt_us(lv.get('p99_us'))} "
            f"| {fmt_us(lv.get('max_us'))} | {lv.get('server_cpu_share', float('nan')):.2f} "
            f"| {fmt_us(per_frame)} | {lv.get('rss_per_session', 0) / 1024:.0f} KiB "
            f"| {errors} | {lv.get('loadgen_cpu_share', float('nan')):.2f} |")
    return [*out, ""]


#: (results key, section title when not measured, renderer), in the order of the page.
SECTIONS = (
    ("roundtrip", "### 1. Round trip", _roundtrip),
    ("cpu", "### 2. Client CPU per hour of audio", _cpu),
    ("concurrency", "### 3. Concurrent sessions in one client process", _concurrency),
    ("micro", "### 4. Micro-benchmarks (`benchmarks/micro.py`)", _micro),
    ("batch", "### 5. Many files at once (`benchmarks/batch.py`)", _batch),
    ("scale", "### 6. Mock server scale (real-time paced sessions)", _scale),
)
