"""Scale presets of the demo cohort: cohort sizes, image matrix and tumour size range.

All scale-dependent numbers live here so that the rest of the generator is scale-free. The
latent patient variables are identical across scales; only their mapping onto physical size
(tumour diameter range) and the field of view change, so the outcome model is scale-invariant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """One preset.

    Attributes:
        name: preset name.
        n_a: patients in centre A (training / internal validation centre).
        n_b: patients in centre B (external validation centre).
        n_matched: matched imaging-transcriptomic patients (centre ``TCGA``).
        matrix: in-plane matrix size (rows = columns).
        min_slices, max_slices: bounds on the number of slices of a series.
        min_z_mm: minimum cranio-caudal coverage in mm (a full liver scan for ``paper``).
        diameter_mm: (low, high) range of the largest tumour's maximum 3D diameter.
        centre_fov_on_body: centre the field of view on the body (whole-abdomen scans) instead of
            cropping it around the tumours.
    """

    name: str
    n_a: int
    n_b: int
    n_matched: int
    matrix: int
    min_slices: int
    max_slices: int
    min_z_mm: float
    diameter_mm: tuple[float, float]
    centre_fov_on_body: bool = False


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", n_a=24, n_b=10, n_matched=8, matrix=64, min_slices=16, max_slices=30,
                  min_z_mm=0.0, diameter_mm=(8.0, 20.0)),
    "default": Scale("default", n_a=100, n_b=60, n_matched=33, matrix=128, min_slices=20,
                     max_slices=60, min_z_mm=0.0, diameter_mm=(10.0, 40.0)),
    # Seed 001: 113 patients at SCH (centre A) and 133 at QL (centre B).
    "paper": Scale("paper", n_a=113, n_b=133, n_matched=33, matrix=512, min_slices=30,
                   max_slices=400, min_z_mm=180.0, diameter_mm=(20.0, 120.0),
                   centre_fov_on_body=True),
}


def get_scale(scale: str | Scale) -> Scale:
    """Return a :class:`Scale` from its name (or pass a custom one through)."""
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}") from None
