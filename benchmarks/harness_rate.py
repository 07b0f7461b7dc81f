"""Examples per minute of a user-style property test through :class:`mock_server.harness.Harness`.

``python -m benchmarks.harness_rate [--examples N]`` runs the captioning property of
``examples/test_captions_property.py`` (a script, speech with one phrase per utterance, a
reconnecting client) as a Hypothesis test, in two workloads and two set-ups, interleaved:

- workloads: ``clean`` (no faults) and ``faults`` (``scenarios(recoverable=True, min_faults=1)``,
  the example's own schedules);
- set-ups: ``harness`` (one reused server, a key and scenario per example: what the example
  does) and ``fresh`` (a new ``MockServer`` per example: the baseline a user would write
  without the harness).

Everything runs in this process (the server's loop thread included), as in a user's test run.
Prints one JSON object; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import MockServer, Scenario
from mock_server import strategies as ms
from mock_server.harness import Harness, MockTarget

from ._common import machine

__all__ = ["main", "run"]



def _captions() -> Callable[..., list[str]]:
    # The example is a user's test module, not part of the package: load it by path.
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "test_captions_property.py"
    spec = importlib.util.spec_from_file_location("captions_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    captions: Callable[..., list[str]] = module.captions
    return captions


def _measure(workload: str, setup: str, examples: int) -> dict[str, Any]:
    captions = _captions()
    scenario_strategy: st.SearchStrategy[Scenario] = (
        ms.scenarios(recoverable=True, min_faults=1, max_faults=3, max_chunks=8,
                     max_commits=3, max_audio_secs=2.0)
        if workload == "faults" else st.just(Scenario())
    )
    harness = Harness().start() if setup == "harness" else None
    count = 0
    wrong = 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(script=ms.scripts(max_size=3), scenario=scenario_strategy, data=st.data())
    def body(script: tuple[Any, ...], scenario: Scenario, data: st.DataObject) -> None:
        nonlocal count, wrong
        speech = data.draw(ms.speech(phrases=len(script)))

        def run(target: MockTarget) -> list[str]:
            return captions(target.client(close_timeout=2, open_timeout=2),
                            speech.phrase_audio())

        if harness is not None:
            result = harness.run(run, scenario, script=script).result
        else:
            with MockServer(idle_timeout_secs=None, timing="instant") as server:
                scripted = Harness(server)
                result = scripted.run(run, scenario, script=script).result
        count += 1
        wrong += result != [u.text for u in script]

    started = time.monotonic()
    try:
        body()
    finally:
        if harness is not None:
            harness.close()
    elapsed = time.monotonic() - started
    return {"workload": workload, "setup": setup, "examples": count,
            "seconds": round(elapsed, 2),
            "examples_per_minute": round(count * 60 / elapsed, 1),
            "wrong_results": wrong}


def run(examples: int = 200) -> dict[str, Any]:
    """Both workloads in both set-ups, interleaved (clean/faults x harness/fresh)."""
    rows = [_measure(workload, setup, examples)
            for workload in ("clean", "faults") for setup in ("harness", "fresh")]
    by = {(r["workload"], r["setup"]): r for r in rows}
    ratios = {w: round(by[(w, "harness")]["examples_per_minute"]
                       / by[(w, "fresh")]["examples_per_minute"], 2)
              for w in ("clean", "faults")}
    return {"machine": machine(), "rows": rows, "harness_vs_fresh": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness_rate",
                                     description=__doc__)
    parser.add_argument("--examples", type=int, default=200, help="examples per run (200)")
    args = parser.parse_args(argv)
    json.dump(run(args.examples), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
