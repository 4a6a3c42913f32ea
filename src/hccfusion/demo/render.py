"""Render a phantom into CT volumes (HU) and the lesion mask on a voxel grid.

Partial-volume edges are computed analytically instead of by supersampling: blurring a locally
planar edge with a Gaussian point-spread function of covariance S gives the step profile
``Phi(-d / sqrt(n' S n))`` (d signed distance to the surface, n its normal; Phi the standard
normal CDF). S combines the in-plane PSF (kernel plus pixel integration) with a Gaussian slice
profile whose FWHM is the slice thickness, so thick slices blur cranio-caudal edges more, as on a
real scanner. The lesion texture's Fourier modes are attenuated by the same PSF. Quantum noise is
added as in-plane correlated Gaussian noise with the acquisition's SD.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import ndtr

from .anatomy import LABELS, Grid, Phantom, lesion_distance
from .scanner import Acquisition

HU_MIN, HU_MAX = -1024, 3071
_CHUNK_VOXELS = 3_000_000


def _step(sd, sigma):
    return ndtr(-sd / sigma)


def _ellipse2d(x, y, cx, cy, a, b):
    """Approximate signed distance (mm) to an axis-aligned ellipse (first-order, q - 1 / |grad q|)."""
    dx, dy = (x - cx) / a, (y - cy) / b
    q = np.sqrt(dx * dx + dy * dy) + 1e-9
    grad = np.sqrt((dx / a) ** 2 + (dy / b) ** 2) / q + 1e-12
    return (q - 1.0) / grad


class _Canvas:
    """One chunk of slices: coordinates, PSF and the per-phase images being composited."""

    def __init__(self, grid: Grid, z0: int, z1: int, phases: dict[str, Acquisition]):
        self.x = grid.axis(0)[None, None, :]
        self.y = grid.axis(1)[None, :, None]
        self.z = grid.axis(2)[z0:z1, None, None]
        self.shape = (z1 - z0, grid.size[1], grid.size[0])
        acq = next(iter(phases.values()))
        self.sxy, self.sz = acq.psf_sigma_mm, acq.slice_sigma_mm
        self.phases = phases
        self.img = {ph: np.full(self.shape, -1000.0, np.float32) for ph in phases}
        self.labels = np.zeros(self.shape, np.uint8)
        self.mask = np.zeros(self.shape, np.uint8)

    def sigma(self, nz2):
        return np.sqrt(self.sxy**2 * (1.0 - nz2) + self.sz**2 * nz2)

    def paint(self, w, tissue: str, phantom: Phantom, region=np.s_[...], hu=None):
        """Composite a tissue with partial-volume weight ``w`` over ``region``."""
        for ph, acq in self.phases.items():
            v = phantom.hu(tissue, ph, acq) if hu is None else hu[ph]
            im = self.img[ph][region]
            im += w * (v - im)
        self.labels[region][w > 0.5] = LABELS[tissue]


def _subregion(c: _Canvas, lo: np.ndarray, hi: np.ndarray):
    ix = np.nonzero((c.x[0, 0] >= lo[0]) & (c.x[0, 0] <= hi[0]))[0]
    iy = np.nonzero((c.y[0, :, 0] >= lo[1]) & (c.y[0, :, 0] <= hi[1]))[0]
    iz = np.nonzero((c.z[:, 0, 0] >= lo[2]) & (c.z[:, 0, 0] <= hi[2]))[0]
    if not (ix.size and iy.size and iz.size):
        return None
    return np.s_[iz[0]:iz[-1] + 1, iy[0]:iy[-1] + 1, ix[0]:ix[-1] + 1]


def _paint_body(c: _Canvas, ph: Phantom):
    a, b = ph.body_axes
    x, y = c.x[0], c.y[0]
    full = np.ones(c.shape, np.float32)
    sd = _ellipse2d(x, y, 0.0, 0.0, a, b)
    c.paint(full * _step(sd, c.sxy), "fat", ph)
    t = ph.fat_mm
    c.paint(full * _step(_ellipse2d(x, y, 0, 0, a - t, b - t), c.sxy), "muscle", ph)
    ca, cb = ph.cavity_axes
    w_cav = _step(_ellipse2d(x, y, 0, 0, ca, cb), c.sxy)
    c.paint(full * w_cav, "cavity", ph)
    sx, sy = ph.spine_centre
    c.paint(full * _step(_ellipse2d(x, y, sx, sy, 22.0, 19.0), c.sxy), "spine", ph)
    ax, ay = ph.aorta_centre
    r = ph.aorta_radius
    c.paint(full * _step(_ellipse2d(x, y, ax, ay, r, r), c.sxy), "aorta", ph)
    return w_cav


def _paint_liver(c: _Canvas, ph: Phantom, w_cav):
    d = [(c.x - ph.liver_centre[0]) / ph.liver_axes[0],
         (c.y - ph.liver_centre[1]) / ph.liver_axes[1],
         (c.z - ph.liver_centre[2]) / ph.liver_axes[2]]
    q = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2) + 1e-9
    g = [d[i] / ph.liver_axes[i] / q for i in range(3)]
    gn = np.sqrt(g[0] ** 2 + g[1] ** 2 + g[2] ** 2) + 1e-12
    nz2 = (g[2] / gn) ** 2
    w = _step((q - 1.0) / gn, c.sigma(nz2)) * w_cav
    c.paint(w.astype(np.float32), "liver", ph)
    return w


def _paint_vessels(c: _Canvas, ph: Phantom, w_liver):
    for v in ph.vessels:
        rmax = max(v.r0, v.r1) + 3 * max(c.sxy, c.sz)
        reg = _subregion(c, np.minimum(v.p0, v.p1) - rmax, np.maximum(v.p0, v.p1) + rmax)
        if reg is None:
            continue
        px, py, pz = c.x[0, 0, reg[2]][None, None], c.y[0, reg[1], 0][None, :, None], \
            c.z[reg[0], 0, 0][:, None, None]
        seg = v.p1 - v.p0
        t = ((px - v.p0[0]) * seg[0] + (py - v.p0[1]) * seg[1] + (pz - v.p0[2]) * seg[2])
        t = np.clip(t / (seg @ seg), 0.0, 1.0)
        dx, dy, dz = px - (v.p0[0] + t * seg[0]), py - (v.p0[1] + t * seg[1]), \
            pz - (v.p0[2] + t * seg[2])
        dist = np.sqrt(dx * dx + dy * dy + dz * dz) + 1e-9
        radius = v.r0 + t * (v.r1 - v.r0)
        w = _step(dist - radius, c.sigma((dz / dist) ** 2)) * w_liver[reg]
        c.paint(w.astype(np.float32), v.kind, ph, reg)


def _paint_tumours(c: _Canvas, ph: Phantom):
    pad = 3 * max(c.sxy, c.sz)
    for tm in ph.tumours:
        lo, hi = tm.bounds()
        reg = _subregion(c, lo - pad, hi + pad)
        if reg is None:
            continue
        px = c.x[0, 0, reg[2]][None, None] - tm.centre[0]
        py = c.y[0, reg[1], 0][None, :, None] - tm.centre[1]
        pz = c.z[reg[0], 0, 0][:, None, None] - tm.centre[2]
        shape = np.broadcast_shapes(px.shape, py.shape, pz.shape)
        dist, (ux, uy, uz), r, sd = lesion_distance(tm, px, py, pz)
        sig = c.sigma(uz * uz)
        w_t = _step(sd, sig)
        c.mask[reg][sd <= 0.0] = 1

        # Viable tissue with a Gaussian random texture (PSF-attenuated Fourier modes).
        k = tm.texture_k
        att = np.exp(-0.5 * (c.sxy**2 * (k[:, 0] ** 2 + k[:, 1] ** 2) + c.sz**2 * k[:, 2] ** 2))
        field = np.zeros(shape, np.float32)
        for m in range(len(k)):
            field += att[m] * np.cos(k[m, 0] * px + k[m, 1] * py + k[m, 2] * pz
                                     + tm.texture_phase[m])
        field *= np.float32(np.sqrt(2.0 / len(k)))
        viable = {}
        for phn, acq in c.phases.items():
            amp = tm.texture_sd * (1.0 if phn == "arterial" else 0.6)
            viable[phn] = ph.hu("tumour_viable", phn, acq) + amp * field
        c.paint(w_t.astype(np.float32), "tumour_viable", ph, reg, hu=viable)

        core = tm.core_fraction_at(ux, uy, uz)
        w_core = _step((dist / r - core) * r, sig)
        c.paint(w_core.astype(np.float32), "tumour_necrosis", ph, reg)
        if tm.capsule:
            w_cap = (w_t - _step(sd + tm.capsule_mm, sig)).astype(np.float32)
            cap = {}
            for phn, acq in c.phases.items():
                cap[phn] = ph.hu("tumour_capsule", phn, acq) if phn == "venous" else \
                    c.img[phn][reg]
            c.paint(w_cap, "tumour_capsule", ph, reg, hu=cap)


def noise_field(shape, acq: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian noise with SD ``acq.noise_sd``, correlated in-plane (CT noise is
    not white: the reconstruction kernel colours it)."""
    g = acq.noise_grain_px
    white = rng.standard_normal(shape, dtype=np.float32)
    coloured = gaussian_filter(white, sigma=(0.0, g, g), mode="wrap", truncate=4.0)
    x = np.arange(-int(4.0 * g + 0.5), int(4.0 * g + 0.5) + 1)
    k = np.exp(-0.5 * (x / g) ** 2)
    k /= k.sum()
    return coloured * np.float32(acq.noise_sd / float(np.sum(k**2)))


def render(phantom: Phantom, grid: Grid, phases: dict[str, Acquisition],
           rngs: dict[str, np.random.Generator] | None,
           with_labels: bool = False) -> dict[str, np.ndarray]:
    """Render the phases acquired on ``grid`` (they must share slice thickness).

    Returns ``{phase: int16 HU volume (z, y, x)}``, ``"mask"`` (uint8 lesion mask: voxel centres
    inside any lesion surface) and, if requested, ``"labels"`` (tissue map, see ``LABELS``).
    ``rngs=None`` renders without noise.
    """
    if len({(a.thickness_mm, a.psf_sigma_mm) for a in phases.values()}) != 1:
        raise ValueError("phases rendered together must share the slice profile")
    nx, ny, nz = grid.size
    step = max(1, _CHUNK_VOXELS // (nx * ny))
    out = {ph: np.empty((nz, ny, nx), np.int16) for ph in phases}
    mask = np.empty((nz, ny, nx), np.uint8)
    labels = np.empty((nz, ny, nx), np.uint8) if with_labels else None
    for z0 in range(0, nz, step):
        z1 = min(nz, z0 + step)
        c = _Canvas(grid, z0, z1, phases)
        w_cav = _paint_body(c, phantom)
        w_liver = _paint_liver(c, phantom, w_cav)
        _paint_vessels(c, phantom, w_liver)
        _paint_tumours(c, phantom)
        for ph, acq in phases.items():
            im = c.img[ph]
            if rngs is not None:
                im += noise_field(im.shape, acq, rngs[ph])
            out[ph][z0:z1] = np.clip(np.rint(im), HU_MIN, HU_MAX).astype(np.int16)
        mask[z0:z1] = c.mask
        if labels is not None:
            labels[z0:z1] = c.labels
    result: dict[str, np.ndarray] = {**out, "mask": mask}
    if labels is not None:
        result["labels"] = labels
    return result
