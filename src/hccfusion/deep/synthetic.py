"""Synthetic tumour crops whose planted property drives simulated outcomes (tests, benchmarks).

Each patient's crop is a sphere in a noisy background, one channel per phase (arterial: bright
sphere; venous: sphere darker than the background, i.e. wash-out). The sphere's radius is the
planted property: its z-score ``z`` is the true linear predictor of overall and progression-free
survival (exponential times with hazard ``base * exp(effect * z)``, uniform censoring) and
lowers the probability of response (``sigmoid(-effect * z)``). A network that learns to measure
the sphere reaches the oracle's concordance; one that learns nothing reaches 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["sphere_mask", "synthetic_cohort"]


def sphere_mask(shape: Sequence[int], centre: Sequence[float], radius: float) -> np.ndarray:
    """Boolean ball of ``radius`` voxels around ``centre`` (voxel coordinates) in ``shape``."""
    grid = np.ogrid[tuple(slice(0, int(s)) for s in shape)]
    d2 = sum((g - float(c)) ** 2 for g, c in zip(grid, centre, strict=True))
    return d2 <= float(radius) ** 2


def synthetic_cohort(
    n: int,
    *,
    size: Sequence[int] = (48, 48, 48),
    phases: int = 2,
    seed: int = 0,
    effect: float = 1.5,
    noise: float = 0.08,
    radius_fraction: tuple[float, float] = (0.1, 0.33),
    jitter: int = 2,
    prefix: str = "P",
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """``(crops, table)``: ``patient_id -> (phases, D, H, W)`` float32 crops in [0, 1] and a table
    with ``patient_id``, the truth (``radius``, ``centre_z/y/x``, ``lp``) and outcomes in the
    default config's columns (``os_days, os_event, pfs_days, pfs_event, response_3m``).
    """
    rng = np.random.default_rng(seed)
    size = tuple(int(s) for s in size)
    lo, hi = (f * min(size) for f in radius_fraction)
    radius = rng.uniform(lo, hi, n)
    centre = np.asarray(size, dtype=float)[None] / 2 + rng.integers(-jitter, jitter + 1, (n, 3))
    z = (radius - radius.mean()) / radius.std()
    levels = [(0.45, 0.80), (0.50, 0.30), (0.40, 0.60), (0.55, 0.35)]  # (background, sphere)
    crops = {}
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    for i, pid in enumerate(ids):
        ball = sphere_mask(size, centre[i], radius[i])
        chans = []
        for p in range(phases):
            bg, fg = levels[p % len(levels)]
            img = np.full(size, bg, dtype=np.float32)
            img[ball] = fg
            img += rng.normal(0.0, noise, size).astype(np.float32)
            chans.append(np.clip(img, 0.0, 1.0))
        crops[pid] = np.stack(chans)

    def times(base: float) -> tuple[np.ndarray, np.ndarray]:
        t = rng.exponential(1.0 / (base * np.exp(effect * z)))
        c = rng.uniform(0.3, 3.0, n) * np.median(t)
        return np.minimum(t, c) * 365.25, (t <= c).astype(int)

    os_t, os_e = times(0.5)
    pfs_t, pfs_e = times(1.0)
    response = (rng.uniform(size=n) < 1 / (1 + np.exp(effect * z))).astype(int)
    table = pd.DataFrame({
        "patient_id": ids, "radius": radius, "centre_z": centre[:, 0], "centre_y": centre[:, 1],
        "centre_x": centre[:, 2], "lp": effect * z, "os_days": np.round(os_t, 1),
        "os_event": os_e, "pfs_days": np.round(pfs_t, 1), "pfs_event": pfs_e,
        "response_3m": response,
    })
    return crops, table
