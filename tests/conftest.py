"""Shared test configuration. Only Hypothesis profiles live here for now; fixtures come later."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "dev": fast enough to run on every save. "ci": more examples, no deadline (shared CI runners
# stall unpredictably, and a flaky deadline failure says nothing about the code).
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
