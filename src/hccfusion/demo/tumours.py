"""HCC lesion model: lobulated star-shaped surface, necrotic core, viable rim texture, capsule.

The surface is a sphere whose radius is modulated by a random smooth function on the unit sphere,
``r(u) = R (1 + a f(u))``, where ``f`` is a random polynomial of degree 2-4 in the direction
cosines (the span of low-order spherical harmonics, l = 2..4), standardised to mean 0 and SD 1
over the sphere. The amplitude ``a`` is the patient's shape irregularity, so it is visible to
shape features (sphericity, surface-to-volume ratio). The non-enhancing necrotic core occupies a
volume fraction ``f_n`` with its own irregular boundary; the viable rim carries a Gaussian random
texture (random Fourier features with a Gaussian spectrum, Rahimi & Recht 2007) whose amplitude
and grain are the patient's heterogeneity, visible to first-order and texture features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Monomial exponents (i, j, k) of ux^i uy^j uz^k with 2 <= i + j + k <= 4.
_EXPONENTS = np.array([(i, j, d - i - j) for d in (2, 3, 4) for i in range(d + 1)
                       for j in range(d + 1 - i)])
_DEGREE_WEIGHT = {2: 1.0, 3: 0.9, 4: 0.8}
N_TEXTURE_MODES = 24


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors (Fibonacci lattice), shape (n, 3)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


_SPHERE = fibonacci_sphere(2000)


def _poly(ux, uy, uz, coef: np.ndarray):
    out = 0.0
    px = [np.ones_like(ux), ux, ux * ux, ux * ux * ux, ux * ux * ux * ux]
    py = [np.ones_like(uy), uy, uy * uy, uy * uy * uy, uy * uy * uy * uy]
    pz = [np.ones_like(uz), uz, uz * uz, uz * uz * uz, uz * uz * uz * uz]
    for c, (i, j, k) in zip(coef, _EXPONENTS, strict=True):
        out = out + c * (px[i] * py[j] * pz[k])
    return out


@dataclass
class SphereFunction:
    """A random smooth function on the unit sphere, standardised over the sphere."""

    coef: np.ndarray
    mean: float
    sd: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> SphereFunction:
        w = np.array([_DEGREE_WEIGHT[int(e.sum())] for e in _EXPONENTS])
        coef = rng.standard_normal(len(_EXPONENTS)) * w
        g = _poly(_SPHERE[:, 0], _SPHERE[:, 1], _SPHERE[:, 2], coef)
        return cls(coef, float(g.mean()), float(g.std()))

    def __call__(self, ux, uy, uz):
        return (_poly(ux, uy, uz, self.coef) - self.mean) / self.sd


@dataclass
class Tumour:
    """One lesion in physical (LPS, mm) coordinates."""

    centre: np.ndarray
    radius: float
    irregularity: float
    shape: SphereFunction
    necrotic_fraction: float
    core_shape: SphereFunction
    texture_sd: float
    texture_k: np.ndarray  # (K, 3) wave vectors, rad/mm
    texture_phase: np.ndarray  # (K,)
    capsule: bool
    capsule_mm: float

    def radius_at(self, ux, uy, uz):
        """Surface radius in direction u (mm)."""
        return self.radius * np.maximum(1.0 + self.irregularity * self.shape(ux, uy, uz), 0.45)

    def core_fraction_at(self, ux, uy, uz):
        """Necrotic core radius as a fraction of the surface radius in direction u."""
        base = self.necrotic_fraction ** (1.0 / 3.0)
        return np.clip(base * (1.0 + 0.18 * self.core_shape(ux, uy, uz)), 0.05, 0.92)

    def surface_points(self, directions: np.ndarray = _SPHERE) -> np.ndarray:
        r = self.radius_at(directions[:, 0], directions[:, 1], directions[:, 2])
        return self.centre + directions * r[:, None]

    @property
    def max_radius(self) -> float:
        return float(np.max(self.radius_at(_SPHERE[:, 0], _SPHERE[:, 1], _SPHERE[:, 2])))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box of the surface (mm)."""
        pts = self.surface_points()
        return pts.min(0), pts.max(0)


def make_tumour(rng: np.random.Generator, max_radius: float, irregularity: float,
                necrotic_fraction: float, texture_sd: float, grain_mm: float,
                capsule: bool) -> Tumour:
    """Draw the shape, core and texture of a lesion whose largest radius is ``max_radius``."""
    shape = SphereFunction.random(rng)
    core = SphereFunction.random(rng)
    k = rng.standard_normal((N_TEXTURE_MODES, 3)) / grain_mm
    phase = rng.uniform(0, 2 * np.pi, N_TEXTURE_MODES)
    t = Tumour(np.zeros(3), 1.0, irregularity, shape, necrotic_fraction, core, texture_sd, k,
               phase, capsule, float(rng.uniform(1.0, 1.6)))
    t.radius = max_radius / t.max_radius
    return t
