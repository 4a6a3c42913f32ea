"""Box-prompted tumour segmentation with SimpleITK, and the overlap metrics used to validate it.

When a cohort comes with one bounding box per tumour (patient sheet column ``box_prompt``) but no
voxel masks, :func:`segment_box` produces the masks so the imaging branch can still run. It is a
classical, parameter-light counterpart of a box-prompted foundation model such as MedSAM
(:mod:`hccfusion.imaging.medsam`): the box says *where* the lesion is and *how large* it is, the
image says *which voxels* belong to it.

Method (per box, in a region of interest = box + ``context_mm``):

1. Denoise with a Gaussian of ``sigma_mm`` (``sitk.SmoothingRecursiveGaussian``, physical units,
   so it adapts to anisotropic voxels).
2. Spatial prior from the box: a lesion fills its box roughly like the inscribed ellipsoid of the
   box shrunk by the annotation ``margin_mm``; the prior log-odds decrease linearly with the
   normalised ellipsoidal radius ``r`` (``prior_weight * (1 - r)``, 0 on the ellipsoid) and are
   minus infinity outside the box.
3. Intensity likelihoods as histograms (not Gaussians: an HCC is often bimodal, an enhancing
   viable rim around a hypodense necrotic core): tumour from the ellipsoid's core
   (``r <= core_radius``), background from the shell around the box and the box corners
   (``r > outer_radius``), as GrabCut's initial colour models (Rother et al., SIGGRAPH 2004). The
   voxel-wise log-likelihood ratio is smoothed (Gaussian, ``sigma_mm``) for spatial coherence,
   added to the prior and thresholded at 0.
4. Clean-up: the connected component overlapping the core most, holes filled
   (``sitk.BinaryFillhole`` in 3-D, then per slice, so a necrotic core inside an enhancing rim
   stays tumour), a morphological opening (``sitk.BinaryMorphologicalOpening``) to cut thin
   leaks along vessels.

Measured (box = reference bounding box + 3 mm): on the default-scale demo (40 patients x 2
phases) mean Dice 0.83, HD95 2.1 mm; on five real soft-tissue-sarcoma CTs (IBSI STS set) Dice
0.77-0.90. The box prior alone (``prior_weight`` -> infinity: the margin-shrunk ellipsoid) scores
the same on the demo (0.83, HD95 2.0 mm) and 0.01-0.03 higher on 4 of the 5 real cases, i.e. the
intensity term does not add accuracy over the box on these data (a very large ``prior_weight``
gives the pure box-prior mask), and weaker priors (``prior_weight`` 3: demo Dice 0.78) are
worse. GrabCut-style re-estimation of the models from the current segmentation was
tried and dropped: it absorbed peritumoral liver into the tumour model and inflated arterial
masks to 1.3-1.6 x the reference volume.

Metrics: :func:`dice` and :func:`hd95` (symmetric 95th-percentile Hausdorff distance in mm,
computed from Maurer signed distance maps, Maurer et al., IEEE TPAMI 2003).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from hccfusion.errors import PatientInputError

__all__ = ["box_to_index", "dice", "hd95", "parse_boxes", "segment_box", "surface_distances"]

Box = tuple[float, float, float, float, float, float]

DEFAULTS = {
    "margin_mm": 3.0,
    "context_mm": 10.0,
    "sigma_mm": 1.0,
    "prior_weight": 10.0,
    "core_radius": 0.6,
    "outer_radius": 1.15,
    "n_bins": 48,
    "opening_mm": 1.0,
}


# ------------------------------------------------------------------------------------------ boxes


def parse_boxes(text: str | None) -> list[Box]:
    """Parse a ``box_prompt`` cell: ``x0,y0,z0,x1,y1,z1`` (LPS mm) per tumour, joined by ``;``.

    Each pair of corners is sorted, so the two opposite corners may be given in any order. Empty
    text or ``None`` (a patient without boxes) gives ``[]``.

    Raises
    ------
    ValueError
        A box without exactly six finite numbers, or with zero extent along an axis.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    boxes: list[Box] = []
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            values = [float(v) for v in part.split(",")]
        except ValueError as exc:
            raise ValueError(f"box {part!r}: not a list of numbers") from exc
        if len(values) != 6 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"box {part!r}: expected six finite numbers x0,y0,z0,x1,y1,z1")
        lo = [min(values[i], values[i + 3]) for i in range(3)]
        hi = [max(values[i], values[i + 3]) for i in range(3)]
        if any(h - lo_ <= 0 for lo_, h in zip(lo, hi, strict=True)):
            raise ValueError(f"box {part!r}: zero extent along an axis")
        boxes.append((*lo, *hi))
    return boxes


def _as_boxes(boxes: str | Iterable[Sequence[float]] | None) -> list[Box]:
    if boxes is None or isinstance(boxes, str):
        return parse_boxes(boxes)
    out = []
    for b in boxes:
        out.extend(parse_boxes(",".join(str(float(v)) for v in b)))
    return out


def box_to_index(image: sitk.Image, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Voxel index range ``(lo, hi)`` (inclusive, (x, y, z)) of the voxels whose centres lie in
    the physical box, clipped to the image; ``None`` when the box misses the image.

    All eight corners are mapped through the image's direction cosines, so the range is right for
    any orientation (the box is axis-aligned in LPS, not necessarily in voxel space).
    """
    lo, hi = np.asarray(box[:3], float), np.asarray(box[3:], float)
    corners = [
        image.TransformPhysicalPointToContinuousIndex(
            tuple(float(v) for v in np.where(np.array(bits, bool), hi, lo))
        )
        for bits in np.ndindex(2, 2, 2)
    ]
    c = np.asarray(corners)
    i_lo = np.ceil(c.min(0) - 1e-6).astype(int)
    i_hi = np.floor(c.max(0) + 1e-6).astype(int)
    size = np.asarray(image.GetSize())
    i_lo, i_hi = np.maximum(i_lo, 0), np.minimum(i_hi, size - 1)
    if (i_hi < i_lo).any():
        return None
    return i_lo, i_hi


def _physical_grid(image: sitk.Image, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Physical coordinates (z, y, x, 3) of the voxel centres in the index range [lo, hi]."""
    kk, jj, ii = np.meshgrid(
        *(np.arange(lo[d], hi[d] + 1, dtype=float) for d in (2, 1, 0)), indexing="ij"
    )
    idx = np.stack([ii, jj, kk], -1) * np.asarray(image.GetSpacing())
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    return np.asarray(image.GetOrigin()) + idx @ direction.T


# ------------------------------------------------------------------------------------ segmentation


def segment_box(
    image: sitk.Image,
    boxes: str | Iterable[Sequence[float]],
    *,
    patient: str | None = None,
    phase: str | None = None,
    **params,
) -> sitk.Image:
    """Segment one tumour inside each physical bounding box; return a uint8 binary mask.

    Parameters
    ----------
    image:
        CT volume in Hounsfield units (any grid; the mask is returned on it).
    boxes:
        ``box_prompt`` text (see :func:`parse_boxes`) or a sequence of
        ``(x0, y0, z0, x1, y1, z1)`` in LPS mm.
    **params:
        ``margin_mm`` (3.0: annotation margin between lesion and box, as in the demo cohort's
        prompts), ``context_mm`` (10.0: shell around the box sampled as background),
        ``sigma_mm`` (1.0: Gaussian smoothing of image and log-likelihood ratio),
        ``prior_weight`` (10.0: log-odds of the box prior at the box centre), ``core_radius``
        (0.6: normalised ellipsoidal radius of the tumour intensity sample), ``outer_radius``
        (1.15: box corners beyond it are sampled as background), ``n_bins`` (48: histogram
        bins), ``opening_mm`` (1.0: opening radius; 0 disables).

    The union over boxes is returned (lesions of one patient are one mask; split them with
    :func:`hccfusion.imaging.preprocess.check_mask` and ``components="per_lesion"``).

    Raises
    ------
    PatientInputError
        No box given, or a box entirely outside the image.
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown segment_box parameter(s): {', '.join(sorted(unknown))}")
    p = {**DEFAULTS, **params}
    parsed = _as_boxes(boxes)
    if not parsed:
        raise PatientInputError("no bounding box given for box-prompted segmentation",
                                patient=patient, phase=phase)
    arr = sitk.GetArrayViewFromImage(image)
    out = np.zeros(arr.shape, np.uint8)
    for box in parsed:
        seg = _segment_one(image, box, p)
        if seg is None:
            raise PatientInputError(
                f"bounding box {', '.join(f'{v:.1f}' for v in box)} (mm) lies outside the image",
                patient=patient, phase=phase,
            )
        region, mask = seg
        out[region] |= mask
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(image)
    return result


def _segment_one(image: sitk.Image, box: Box, p: dict) -> tuple[tuple, np.ndarray] | None:
    inner = box_to_index(image, box)
    if inner is None:
        return None
    ctx = np.asarray(box, float) + np.array([-1, -1, -1, 1, 1, 1]) * p["context_mm"]
    lo, hi = box_to_index(image, ctx)
    region = tuple(slice(lo[d], hi[d] + 1) for d in (2, 1, 0))
    spacing = np.asarray(image.GetSpacing(), float)

    roi = sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])
    roi = sitk.Cast(roi, sitk.sitkFloat32)
    if p["sigma_mm"] > 0:
        roi = sitk.SmoothingRecursiveGaussian(roi, float(p["sigma_mm"]))
    values = sitk.GetArrayFromImage(roi)

    # Normalised ellipsoidal radius of the margin-shrunk box, and the box itself.
    pts = _physical_grid(image, lo, hi)
    b_lo, b_hi = np.asarray(box[:3]), np.asarray(box[3:])
    centre, half = (b_lo + b_hi) / 2, (b_hi - b_lo) / 2
    semi = np.maximum(half - p["margin_mm"], np.maximum(half / 2, spacing.min()))
    r = np.sqrt((((pts - centre) / semi) ** 2).sum(-1))
    in_box = (np.abs(pts - centre) <= half + 1e-6).all(-1)
    prior = np.where(in_box, p["prior_weight"] * (1.0 - r), -np.inf)

    core = r <= p["core_radius"]
    if not core.any():  # box thinner than a voxel along some axis: take its central voxels
        core = r <= r.min() + 1e-6
    # Background: the shell around the box and the box corners outside the enlarged ellipsoid.
    background = ~in_box | (r > p["outer_radius"])

    lo_v, hi_v = np.percentile(values, [0.5, 99.5])
    edges = np.linspace(lo_v, max(hi_v, lo_v + 1.0), int(p["n_bins"]) + 1)
    bins = np.clip(np.digitize(values, edges) - 1, 0, len(edges) - 2)
    llr = _log_ratio(bins, core, background, len(edges) - 1)
    if p["sigma_mm"] > 0:
        llr = ndimage.gaussian_filter(llr, float(p["sigma_mm"]) / spacing[::-1], mode="nearest")
    radius = [max(int(round(p["opening_mm"] / s)), 0) for s in spacing]
    seg = _clean(llr + prior > 0, core, radius)
    if not seg.any():  # everything opened away (lesion of a few voxels): keep the box ellipsoid
        seg = in_box & (r <= 1.0)
    return region, seg.astype(np.uint8)


def _log_ratio(bins: np.ndarray, fg: np.ndarray, bg: np.ndarray, n_bins: int) -> np.ndarray:
    """Voxel-wise log p(value | tumour) - log p(value | background) from smoothed histograms."""

    def density(sel: np.ndarray) -> np.ndarray:
        h = np.bincount(bins[sel], minlength=n_bins).astype(float)
        h = ndimage.gaussian_filter1d(h, 1.0, mode="constant") + 0.5  # Laplace-type floor
        return h / h.sum()

    table = np.clip(np.log(density(fg)) - np.log(density(bg)), -5.0, 5.0)
    return table[bins].astype(np.float32)


def _clean(seg: np.ndarray, core: np.ndarray, radius: list[int]) -> np.ndarray:
    """Component overlapping the core most, holes filled, opened; (z, y, x) boolean array."""
    if not seg.any():
        return seg
    img = sitk.GetImageFromArray(seg.astype(np.uint8))
    img = sitk.BinaryFillhole(img, fullyConnected=False, foregroundValue=1)
    if any(radius):
        img = sitk.BinaryMorphologicalOpening(img, radius, sitk.sitkBall, 0, 1)
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(img, True))
    if labels.max() == 0:
        return np.zeros_like(seg)
    overlap = np.bincount(labels[core], minlength=labels.max() + 1)[1:]
    keep = int(np.argmax(overlap)) + 1 if overlap.any() else int(
        np.argmax(np.bincount(labels.ravel())[1:]) + 1
    )
    out = labels == keep
    # Fill per slice as well: a necrotic core open towards an end slice is not a 3-D hole.
    return np.stack([ndimage.binary_fill_holes(s) for s in out])


# ------------------------------------------------------------------------------------------ metrics


def _binary_pair(a: sitk.Image, b: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    a = sitk.Cast(a > 0, sitk.sitkUInt8)
    b = sitk.Cast(b > 0, sitk.sitkUInt8)
    same = (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-4)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4)
    )
    if not same:
        from hccfusion.imaging.preprocess import resample_mask

        b = resample_mask(b, a)
    b.CopyInformation(a)
    return a, b


def dice(a: sitk.Image, b: sitk.Image) -> float:
    """Dice coefficient 2|A and B| / (|A| + |B|) of two masks (voxels > 0).

    ``b`` is resampled onto ``a``'s grid if the grids differ. Two empty masks agree perfectly (1.0).
    """
    a, b = _binary_pair(a, b)
    x, y = sitk.GetArrayViewFromImage(a).astype(bool), sitk.GetArrayViewFromImage(b).astype(bool)
    total = int(x.sum()) + int(y.sum())
    return 1.0 if total == 0 else float(2.0 * np.logical_and(x, y).sum() / total)


def surface_distances(a: sitk.Image, b: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each surface voxel of ``a`` to the surface of ``b``, and vice versa.

    Surfaces are the masks' boundary voxels (``sitk.LabelContour``: foreground voxels with a
    face-connected background neighbour). The distance from every voxel to the nearest boundary
    voxel of the other mask is the absolute value of ``sitk.SignedMaurerDistanceMap`` (exact
    Euclidean distance transform in physical units, Maurer et al. 2003) of that boundary image,
    which is 0 on the boundary itself; it is read at this mask's boundary voxels. ``b`` is
    resampled onto ``a``'s grid if the grids differ.
    """
    a, b = _binary_pair(a, b)
    surf_a, surf_b = sitk.LabelContour(a), sitk.LabelContour(b)

    def to_surface(src: sitk.Image, target_surface: sitk.Image) -> np.ndarray:
        dist = sitk.Abs(
            sitk.SignedMaurerDistanceMap(
                target_surface, insideIsPositive=False, squaredDistance=False,
                useImageSpacing=True,
            )
        )
        sel = sitk.GetArrayViewFromImage(src).astype(bool)
        return sitk.GetArrayViewFromImage(dist)[sel].astype(float)

    return to_surface(surf_a, surf_b), to_surface(surf_b, surf_a)


def hd95(a: sitk.Image, b: sitk.Image, percentile: float = 95.0) -> float:
    """Symmetric 95th-percentile Hausdorff distance (mm) between two masks.

    ``max(P95(d(A -> B)), P95(d(B -> A)))`` over the surface voxels of each mask (the definition
    of MONAI's ``compute_hausdorff_distance(percentile=95)``; medpy pools both directions
    instead). ``sitk.HausdorffDistanceImageFilter`` returns only the maximum (100th percentile),
    which a single stray voxel dominates; the directed distances are computed here from
    Maurer signed distance maps (:func:`surface_distances`). Two empty masks give 0.0, one empty
    mask gives ``inf``. ``b`` is resampled onto ``a``'s grid if the grids differ.
    """
    d_ab, d_ba = surface_distances(a, b)
    if d_ab.size == 0 and d_ba.size == 0:
        return 0.0
    if d_ab.size == 0 or d_ba.size == 0:
        return math.inf
    return float(max(np.percentile(d_ab, percentile), np.percentile(d_ba, percentile)))
