"""Shared fixtures: synthetic runs drawn from the law, and the path to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

matplotlib.use("Agg")

# Property and fuzz tests draw the same examples on every run by default, so a test run is
# reproducible and CI cannot fail on a new random draw; HYPOTHESIS_PROFILE=explore draws new
# ones (and more of them) to look for new failures.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

from scaling.core import law  # noqa: E402
from scaling.simulate import ar1_noise  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def simulate_run(
    rng: np.random.Generator,
    n: int = 100,
    P0: float = 0.95,
    beta: float = 0.6,
    c: float = 1.0,
    sd: float = 0.01,
    rho: float = 0.5,
    s_start: float = 0.65,
    s_end: float = 0.05,
):
    """One run: entropy decaying exponentially over steps, perf from the law plus AR(1) noise.

    Returns (step, entropy, perf).
    """
    step = np.arange(n, dtype=float)
    S = s_end + (s_start - s_end) * np.exp(-step / (n / 3))
    return step, S, P0 - beta * law.g(S, c) + ar1_noise(rng, n, sd, rho)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repo; tests using it skip only when it is absent (a user's machine)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
