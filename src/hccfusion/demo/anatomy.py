"""Abdominal phantom of one patient: body wall, abdominal cavity, spine, aorta, liver with portal
and hepatic veins, HCC lesions, their attenuation in each contrast phase, and the field of view.

Coordinates are physical patient coordinates (DICOM LPS, mm): +x towards the patient's left,
+y posterior, +z superior. The liver lies in the right upper abdomen (negative x). Both phases
share this frame (no motion between phases), so one box prompt fits both series.

Attenuation (HU) per tissue is ``unenhanced + enhancement(phase)``; arterial enhancement is
multiplied by the acquisition's ``arterial_gain`` (contrast timing). Typical values follow the
LI-RADS description of HCC (arterial phase hyper-enhancement, portal-venous "washout" and an
enhancing "capsule"; American College of Radiology, LI-RADS v2018): liver 60-80 HU arterial and
100-120 HU portal-venous; viable tumour 110-150 HU arterial and 70-90 HU portal-venous;
necrosis 20-40 HU without enhancement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist
from scipy.special import ndtr

from .scales import Scale
from .scanner import Acquisition
from .tumours import Tumour, make_tumour

PHASES = ("arterial", "venous")

# Box prompts extend this far beyond the tumour surface; the field of view keeps a further
# millimetre of clearance so the box stays inside the image.
BOX_MARGIN_MM = 3.0
FOV_MARGIN_MM = BOX_MARGIN_MM + 1.0

# Label values of the (in-memory) tissue map used by tests and QC.
LABELS = {
    "air": 0, "fat": 1, "muscle": 2, "cavity": 3, "spine": 4, "aorta": 5, "liver": 6,
    "portal_vein": 7, "hepatic_vein": 8, "tumour_viable": 9, "tumour_necrosis": 10,
    "tumour_capsule": 11,
}


@dataclass(frozen=True)
class Grid:
    """A voxel grid with identity direction: voxel (i, j, k) lies at origin + (i, j, k) * spacing.

    ``size`` and ``spacing`` are in (x, y, z) order; arrays are stored (z, y, x).
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    size: tuple[int, int, int]

    def axis(self, d: int) -> np.ndarray:
        return self.origin[d] + self.spacing[d] * np.arange(self.size[d])

    def index_range(self, d: int, lo: float, hi: float) -> tuple[int, int]:
        """Half-open index range of voxels whose centres lie in [lo, hi] along axis d."""
        a = math.ceil((lo - self.origin[d]) / self.spacing[d])
        b = math.floor((hi - self.origin[d]) / self.spacing[d]) + 1
        return max(a, 0), min(b, self.size[d])


@dataclass
class Vessel:
    """A tapered tube from p0 (radius r0) to p1 (radius r1)."""

    p0: np.ndarray
    p1: np.ndarray
    r0: float
    r1: float
    kind: str  # "portal_vein" or "hepatic_vein"


@dataclass
class Phantom:
    """Geometry and attenuation of one patient's abdomen."""

    body_axes: tuple[float, float]
    fat_mm: float
    muscle_mm: float
    liver_centre: np.ndarray
    liver_axes: np.ndarray
    spine_centre: tuple[float, float]
    aorta_centre: tuple[float, float]
    aorta_radius: float
    vessels: list[Vessel]
    tumours: list[Tumour]
    unenhanced: dict[str, float]
    enhancement: dict[str, dict[str, float]]
    grids: dict[str, Grid] = field(default_factory=dict)

    @property
    def cavity_axes(self) -> tuple[float, float]:
        t = self.fat_mm + self.muscle_mm
        return self.body_axes[0] - t, self.body_axes[1] - t

    def hu(self, tissue: str, phase: str, acq: Acquisition) -> float:
        """Attenuation of a tissue in a phase under a given acquisition's contrast timing."""
        enh = self.enhancement[phase].get(tissue, 0.0)
        if phase == "arterial":
            enh *= acq.arterial_gain
        return self.unenhanced[tissue] + enh


def _attenuation(rng: np.random.Generator) -> tuple[dict[str, float], dict[str, dict]]:
    u = rng.uniform
    base = {
        "air": -1000.0, "fat": -100.0, "muscle": 50.0, "cavity": -40.0, "spine": 350.0,
        "aorta": 40.0, "liver": 55.0, "portal_vein": 40.0, "hepatic_vein": 40.0,
        "tumour_viable": 40.0, "tumour_necrosis": u(20.0, 35.0), "tumour_capsule": 55.0,
    }
    art = {"muscle": 5.0, "cavity": 5.0, "aorta": u(220, 300), "liver": u(9, 23),
           "portal_vein": u(90, 130), "hepatic_vein": u(10, 40), "tumour_viable": u(80, 105),
           "tumour_necrosis": 2.0}
    ven = {"muscle": 10.0, "cavity": 10.0, "aorta": u(110, 140), "liver": u(48, 62),
           "portal_vein": u(120, 150), "hepatic_vein": u(110, 140), "tumour_viable": u(33, 47),
           "tumour_necrosis": 3.0}
    # The capsule is not seen in the arterial phase and enhances on delayed/venous imaging.
    art["tumour_capsule"] = art["liver"]
    ven["tumour_capsule"] = ven["liver"] + u(18, 32)
    return base, {"arterial": art, "venous": ven}


def _phi(z: float) -> float:
    return float(ndtr(z))


def lesion_parameters(lat: dict[str, float], scale: Scale) -> dict[str, float]:
    """Map the standardised latents onto physical lesion parameters at this scale.

    Size maps log-uniformly onto the scale's diameter range, so a patient keeps its rank (and
    its outcome) across scales; the other parameters are scale-free.
    """
    lo, hi = scale.diameter_mm
    return {
        "max_radius": 0.5 * lo * (hi / lo) ** _phi(lat["size"]),
        "irregularity": 0.04 + 0.40 * _phi(lat["irregularity"]),
        "necrotic_fraction": 0.02 + 0.33 * _phi(lat["necrosis"]),
        "texture_sd": 8.0 + 45.0 * _phi(lat["heterogeneity"]),
        "grain_mm": 1.2 + 2.8 * _phi(0.7 * lat["heterogeneity"]),
    }


def _inside_liver(c: np.ndarray, r: float, phantom: Phantom) -> bool:
    q = np.sqrt(np.sum(((c - phantom.liver_centre) / phantom.liver_axes) ** 2))
    if q > 1.0 - (r + 3.0) / phantom.liver_axes.min():
        return False
    ca = phantom.cavity_axes
    qc = math.hypot(c[0] / ca[0], c[1] / ca[1])
    return qc <= 1.0 - (r + 3.0) / min(ca)


def _sample_in_liver(rng: np.random.Generator, r: float, phantom: Phantom) -> np.ndarray:
    for _ in range(10000):
        v = rng.uniform(-1, 1, 3)
        if v @ v <= 1.0:
            c = phantom.liver_centre + v * phantom.liver_axes
            if _inside_liver(c, r, phantom):
                return c
    raise RuntimeError("could not place the tumour inside the liver")


def _cluster_fits(tumours: list[Tumour], extent: np.ndarray) -> bool:
    lo = np.min([t.centre - t.max_radius for t in tumours], axis=0)
    hi = np.max([t.centre + t.max_radius for t in tumours], axis=0)
    return bool(np.all(hi - lo + 2 * FOV_MARGIN_MM <= extent))


def _vessels(rng: np.random.Generator, liver_c: np.ndarray, axes: np.ndarray,
             main: Tumour) -> list[Vessel]:
    u = rng.uniform
    vessels = []
    hilum = liver_c + axes * np.array([0.45, 0.15, -0.25])
    bif = liver_c + axes * np.array([0.15, 0.05, -0.1]) + u(-5, 5, 3)
    vessels.append(Vessel(hilum, bif, 7.0, 6.0, "portal_vein"))
    for _ in range(int(rng.integers(4, 7))):
        d = rng.standard_normal(3)
        d[0] = -abs(d[0])  # branches run laterally into the right lobe
        d /= np.linalg.norm(d)
        vessels.append(Vessel(bif, liver_c + d * axes * u(0.6, 0.9), 5.0, 2.0, "portal_vein"))
    # A segmental branch running past the main lesion, so vessels appear in cropped views.
    side = rng.standard_normal(3)
    side -= side @ (main.centre - bif) * (main.centre - bif) / np.sum((main.centre - bif) ** 2)
    side /= np.linalg.norm(side)
    target = main.centre + side * (main.max_radius + u(4.0, 8.0))
    far = target + (target - bif) / np.linalg.norm(target - bif) * 25.0
    vessels.append(Vessel(bif, far, 4.0, 2.0, "portal_vein"))
    ivc = liver_c + axes * np.array([0.55, 0.45, 0.75])
    for _ in range(3):
        d = np.array([-u(0.3, 1.0), -u(-0.2, 0.6), -u(0.3, 0.8)])
        d /= np.linalg.norm(d)
        vessels.append(Vessel(ivc, ivc + d * axes * u(0.7, 1.0), 5.5, 2.0, "hepatic_vein"))
    return vessels


def build_phantom(lat: dict[str, float], n_tumours: int, scale: Scale,
                  acqs: dict[str, Acquisition], rng: np.random.Generator) -> Phantom:
    """Build the patient's phantom and the field of view (one grid per phase).

    Lesions are placed inside the liver, non-overlapping, and as a cluster small enough to fit
    the field of view with margin; satellites are smaller than the index lesion.
    """
    body = (rng.uniform(150, 175), rng.uniform(110, 130))
    fat, muscle = rng.uniform(12, 28), rng.uniform(8, 14)
    liver_c = np.array([rng.uniform(-68, -55), rng.uniform(-8, 8), 0.0])
    axes = np.array([rng.uniform(78, 90), rng.uniform(72, 82), rng.uniform(80, 95)])
    p = lesion_parameters(lat, scale)
    need = (p["max_radius"] + 3.0) / 0.55
    if axes.min() < need:
        axes = axes * need / axes.min()
    base, enh = _attenuation(rng)
    phantom = Phantom(body, fat, muscle, liver_c, axes, (0.0, rng.uniform(85, 95)),
                      (rng.uniform(12, 22), rng.uniform(50, 62)), rng.uniform(10, 13), [], [],
                      base, enh)
    # The cavity must hold the liver: widen the body if needed (large paper-scale livers).
    reach = np.abs(liver_c[:2]) + axes[:2] + fat + muscle + 2.0
    phantom.body_axes = (max(body[0], reach[0]), max(body[1], reach[1]))

    dxy = acqs["arterial"].pixel_spacing_mm
    dz_min = min(a.slice_spacing_mm for a in acqs.values())
    fov_xy = (scale.matrix - 1) * dxy
    extent = np.array([fov_xy, fov_xy, (scale.max_slices - 1) * dz_min])
    capsule = bool(lat["capsule"])

    def lesion(r_max: float) -> Tumour:
        return make_tumour(rng, r_max, p["irregularity"], p["necrotic_fraction"],
                           p["texture_sd"], p["grain_mm"], capsule)

    main = lesion(p["max_radius"])
    main.centre = _sample_in_liver(rng, main.max_radius, phantom)
    tumours = [main]
    for _ in range(n_tumours - 1):
        # Satellites stay visible: at least 5 mm and thicker than a slice where possible.
        dz_max = max(a.slice_spacing_mm for a in acqs.values())
        floor = min(max(2.5, 0.6 * dz_max), 0.9 * main.max_radius)
        r_sat = max(main.max_radius * rng.uniform(0.35, 0.65), floor)
        placed = False
        while not placed:
            sat = lesion(r_sat)
            for _ in range(300):
                d = rng.standard_normal(3)
                d /= np.linalg.norm(d)
                gap = rng.uniform(3.0, 20.0)
                c = main.centre + d * (main.max_radius + sat.max_radius + gap)
                sat.centre = c
                ok = _inside_liver(c, sat.max_radius, phantom) and all(
                    np.linalg.norm(c - t.centre) >= t.max_radius + sat.max_radius + 2.0
                    for t in tumours) and _cluster_fits([*tumours, sat], extent)
                if ok:
                    placed = True
                    break
            r_sat *= 0.85
            if not placed and r_sat < 1.5:
                raise RuntimeError("could not place satellite lesions in the field of view")
        tumours.append(sat)
    phantom.tumours = tumours
    phantom.vessels = _vessels(rng, liver_c, axes, main)
    # Every lesion must own voxels on every grid (tumour number = what is in the image); thin
    # lesions between thick slices are avoided by re-drawing the field of view's offset.
    for _ in range(100):
        phantom.grids = _field_of_view(phantom, scale, acqs, rng)
        if all(len(lesion_voxels(t, g)) for t in tumours for g in phantom.grids.values()):
            return phantom
    raise RuntimeError("a lesion is not sampled by the slices of the field of view")


def lesion_distance(t: Tumour, px, py, pz):
    """Signed distance proxy to the lesion surface at offsets (px, py, pz) from its centre.

    Returns ``(dist, (ux, uy, uz), r, sd)``: distance to the centre, direction, surface radius
    in that direction and ``sd = dist - r`` (<= 0 inside). Shared by the renderer and the
    voxel-level measurements so that masks and clinical diameters agree exactly.
    """
    dist = np.sqrt(px * px + py * py + pz * pz) + 1e-9
    ux, uy, uz = px / dist, py / dist, pz / dist
    r = t.radius_at(ux, uy, uz)
    return dist, (ux, uy, uz), r, dist - r


def lesion_voxels(t: Tumour, grid: Grid) -> np.ndarray:
    """Physical coordinates (N, 3) of the voxel centres of ``grid`` inside lesion ``t``."""
    lo, hi = t.bounds()
    rx, ry, rz = (grid.index_range(d, lo[d] - 1.0, hi[d] + 1.0) for d in range(3))
    if rx[0] >= rx[1] or ry[0] >= ry[1] or rz[0] >= rz[1]:
        return np.zeros((0, 3))
    x = grid.axis(0)[rx[0]:rx[1]][None, None, :]
    y = grid.axis(1)[ry[0]:ry[1]][None, :, None]
    z = grid.axis(2)[rz[0]:rz[1]][:, None, None]
    *_, sd = lesion_distance(t, x - t.centre[0], y - t.centre[1], z - t.centre[2])
    k, j, i = np.nonzero(sd <= 0.0)
    return np.stack([x[0, 0, i], y[0, j, 0], z[k, 0, 0]], axis=1)


def lesion_diameter_on_grid(t: Tumour, grid: Grid) -> float:
    """Maximum 3D diameter (mm) of the lesion as voxelised on ``grid``: the largest distance
    between two voxel centres of its mask (what a reader measures on the image)."""
    pts = lesion_voxels(t, grid)
    if len(pts) < 2:
        return 0.0
    # Only the extreme voxels of each row can be endpoints of the diameter.
    order = np.lexsort((pts[:, 0], pts[:, 1], pts[:, 2]))
    pts = pts[order]
    key = pts[:, 1:]
    change = np.any(np.diff(key, axis=0) != 0, axis=1)
    first = np.r_[True, change]
    last = np.r_[change, True]
    ext = np.unique(pts[first | last], axis=0)
    if len(ext) > 4:
        try:
            ext = ext[ConvexHull(ext).vertices]
        except QhullError:  # coplanar (single slice)
            pass
    return float(pdist(ext).max())


def _field_of_view(phantom: Phantom, scale: Scale, acqs: dict[str, Acquisition],
                   rng: np.random.Generator) -> dict[str, Grid]:
    lo = np.min([t.bounds()[0] for t in phantom.tumours], axis=0) - FOV_MARGIN_MM
    hi = np.max([t.bounds()[1] for t in phantom.tumours], axis=0) + FOV_MARGIN_MM
    dxy = acqs["arterial"].pixel_spacing_mm
    width = (scale.matrix - 1) * dxy
    centre = np.zeros(3)
    for d in (0, 1):
        if scale.centre_fov_on_body and hi[d] - width / 2 <= 0 <= lo[d] + width / 2:
            lo_c, hi_c = max(hi[d] - width / 2, -10.0), min(lo[d] + width / 2, 10.0)
        else:
            lo_c, hi_c = hi[d] - width / 2, lo[d] + width / 2
        centre[d] = rng.uniform(min(lo_c, hi_c), max(lo_c, hi_c))
    extent_z = hi[2] - lo[2]
    n_z = {}
    for phase in PHASES:
        dz = acqs[phase].slice_spacing_mm
        n = max(math.ceil(extent_z / dz) + 1, scale.min_slices, math.ceil(scale.min_z_mm / dz))
        n_z[phase] = min(n, scale.max_slices)
    span = min((n_z[ph] - 1) * acqs[ph].slice_spacing_mm for ph in PHASES)
    centre[2] = rng.uniform(hi[2] - span / 2, lo[2] + span / 2) if span >= extent_z else (
        (lo[2] + hi[2]) / 2)
    grids = {}
    for phase in PHASES:
        dz = acqs[phase].slice_spacing_mm
        nz = n_z[phase]
        # Multiples of 1/64 mm are exact in float32 (NIfTI) and in DICOM decimal strings.
        origin = tuple(round(v * 64) / 64 for v in (centre[0] - width / 2, centre[1] - width / 2,
                                                    centre[2] - (nz - 1) * dz / 2))
        grids[phase] = Grid(origin, (dxy, dxy, dz), (scale.matrix, scale.matrix, nz))
    return grids


def box_prompt(phantom: Phantom, margin: float = BOX_MARGIN_MM) -> str:
    """``x0,y0,z0,x1,y1,z1`` (LPS mm) per lesion with ``margin``, lesions joined by ``;``."""
    boxes = []
    for t in phantom.tumours:
        lo, hi = t.bounds()
        vals = [*(lo - margin), *(hi + margin)]
        boxes.append(",".join(f"{v:.2f}" for v in vals))
    return ";".join(boxes)
