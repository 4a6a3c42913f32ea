"""Per-centre CT acquisition: scanner identity, voxel spacing, slice profile, noise, contrast timing.

Centre A stands for one hospital with one scanner model (3 or 5 mm slices, low noise); centre B
for another hospital with a different vendor, noisier images, heterogeneous reconstructions
(1-5 mm) and a slightly earlier arterial acquisition (weaker arterial enhancement). The matched
``TCGA`` cohort mixes vendors, as TCIA TCGA-LIHC does. These are the batch effects a radiomics
pipeline must be robust to (the seed papers resample to 1 mm and keep ICC-robust features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (manufacturer, model, kernel, pixel representation, rescale intercept)
_VENDORS = {
    "siemens": ("SIEMENS", "SOMATOM Definition AS+", "B30f", 0, -1024.0),
    "ge": ("GE MEDICAL SYSTEMS", "Discovery CT750 HD", "STANDARD", 1, -1024.0),
    "toshiba": ("TOSHIBA", "Aquilion ONE", "FC08", 1, 0.0),
    "philips": ("Philips", "Brilliance 64", "B", 0, -1024.0),
    "siemens_old": ("SIEMENS", "Sensation 64", "B31f", 0, -1024.0),
}

INSTITUTIONS = {
    "A": "Synthetic Centre A Hospital",
    "B": "Synthetic Centre B University Hospital",
    "TCGA": "Synthetic TCIA Contributing Site",
}


@dataclass(frozen=True)
class Acquisition:
    """Acquisition of one phase.

    ``psf_sigma_mm`` is the in-plane point-spread function (Gaussian SD, reconstruction kernel plus
    pixel integration); the slice profile is Gaussian with FWHM = ``thickness_mm``.
    ``arterial_gain`` scales arterial enhancement above the unenhanced baseline (contrast timing).
    """

    manufacturer: str
    model: str
    kernel: str
    kvp: float
    pixel_spacing_mm: float
    slice_spacing_mm: float
    thickness_mm: float
    noise_sd: float
    noise_grain_px: float
    psf_sigma_mm: float
    arterial_gain: float
    pixel_representation: int
    rescale_intercept: float
    institution: str
    site: str

    @property
    def slice_sigma_mm(self) -> float:
        return self.thickness_mm / 2.3548


def _exact(v: float, denominator: int) -> float:
    """Round to a multiple of 1/denominator: exact in float32 (NIfTI headers) and in a short
    DICOM decimal string, so images and masks share a bit-identical grid."""
    return round(v * denominator) / denominator


def _make(vendor: str, centre: str, rng: np.random.Generator, dxy: float, dz: float,
          noise: float, gain: float, site: str) -> Acquisition:
    manufacturer, model, kernel, pixrep, intercept = _VENDORS[vendor]
    psf = float(np.sqrt(0.45**2 + dxy**2 / 12.0))
    return Acquisition(
        manufacturer=manufacturer, model=model, kernel=kernel,
        kvp=float(rng.choice([100.0, 120.0], p=[0.25, 0.75])),
        pixel_spacing_mm=_exact(dxy, 1024), slice_spacing_mm=dz, thickness_mm=dz,
        noise_sd=round(noise, 2), noise_grain_px=float(rng.uniform(0.6, 0.9)),
        psf_sigma_mm=psf, arterial_gain=round(gain, 3), pixel_representation=pixrep,
        rescale_intercept=intercept, institution=INSTITUTIONS[centre], site=site)


def sample_acquisitions(centre: str, rng: np.random.Generator) -> dict[str, Acquisition]:
    """Draw the arterial and venous acquisitions of one patient from the centre's protocol.

    Both phases share the in-plane grid; centre B occasionally reconstructs the phases with
    different slice spacing (thin arterial, thick venous), so masks must follow each phase's grid.
    """
    if centre == "A":
        dxy = rng.uniform(0.70, 0.80)
        dz = float(rng.choice([5.0, 3.0], p=[0.6, 0.4]))
        noise = rng.uniform(9.0, 11.0)
        acq = _make("siemens", centre, rng, dxy, dz, noise, rng.uniform(0.97, 1.03), "A")
        return {"arterial": acq, "venous": acq}
    if centre == "B":
        dxy = rng.uniform(0.60, 0.90)
        choices = np.array([1.0, 1.25, 2.0, 2.5, 3.0, 5.0])
        dz = float(rng.choice(choices))
        noise = rng.uniform(14.0, 18.0)
        gain = rng.uniform(0.78, 0.90)
        art = _make("ge", centre, rng, dxy, dz, noise, gain, "B")
        if rng.random() < 0.2:
            dz_v = float(rng.choice(choices[choices > dz])) if dz < 5.0 else 2.5
            ven = Acquisition(**{**art.__dict__, "slice_spacing_mm": dz_v, "thickness_mm": dz_v})
            return {"arterial": art, "venous": ven}
        return {"arterial": art, "venous": art}
    if centre == "TCGA":
        vendor = str(rng.choice(["siemens_old", "ge", "toshiba", "philips"]))
        dxy = rng.uniform(0.62, 0.90)
        dz = float(rng.choice([2.5, 3.0, 5.0], p=[0.3, 0.2, 0.5]))
        noise = rng.uniform(10.0, 18.0)
        acq = _make(vendor, centre, rng, dxy, dz, noise, rng.uniform(0.8, 1.0),
                    f"TCGA-{vendor}")
        return {"arterial": acq, "venous": acq}
    raise ValueError(f"unknown centre {centre!r}")


# Nominal acquisition ranges per centre, used by the README and the tests.
CENTRE_RANGES = {
    "A": {"pixel_spacing_mm": (0.70, 0.80), "slice_spacing_mm": (3.0, 5.0), "noise_sd": (9, 11)},
    "B": {"pixel_spacing_mm": (0.60, 0.90), "slice_spacing_mm": (1.0, 5.0), "noise_sd": (14, 18)},
    "TCGA": {"pixel_spacing_mm": (0.62, 0.90), "slice_spacing_mm": (2.5, 5.0),
             "noise_sd": (10, 18)},
}
