"""Resample, normalise and check one patient's CT phase and tumour mask before feature extraction.

Second per-patient step of the imaging branch (DESIGN.md section 2: *resample 1 mm -> normalise*),
following seed 001 ("images were resampled to 1 x 1 x 1 mm isotropic voxels and intensity
normalised"). The functions work on SimpleITK images in physical (LPS, mm) space, so the arterial
and venous phases, which are separate acquisitions with their own voxel grids, can be compared
directly (:func:`phase_agreement`).

* :func:`resample_image` - cubic B-spline interpolation (``sitk.ResampleImageFilter`` with
  ``sitkBSpline``), float32 Hounsfield units, same physical extent (voxel edges) as the input.
* :func:`resample_mask` - label-safe resampling onto a reference grid: each label's indicator is
  interpolated linearly and thresholded at 0.5.
* :func:`normalise` - HU clipping and z-scoring (``none``, ``hu_clip``, ``hu_window_zscore``).
* :func:`check_mask` - rejects unusable masks with :class:`~hccfusion.errors.PatientInputError`,
  reports border contact and connected components, applies a components policy.
* :func:`phase_agreement`, :func:`check_phase_agreement` - Dice, centroid distance and volume ratio
  of the arterial and venous masks, and the error when they describe different objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from hccfusion.errors import PatientInputError

__all__ = [
    "INTERPOLATORS",
    "NORMALISATION_METHODS",
    "body_mask",
    "check_mask",
    "check_phase_agreement",
    "crop_to_mask",
    "normalise",
    "phase_agreement",
    "prepare_roi",
    "resample_image",
    "resample_mask",
]

PathType = str | PathLike[str]

INTERPOLATORS = {
    "bspline": sitk.sitkBSpline,
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "lanczos": sitk.sitkLanczosWindowedSinc,
}
NORMALISATION_METHODS = ("none", "hu_clip", "hu_window_zscore")
COMPONENT_POLICIES = ("largest", "merged", "per_lesion")

#: Voxels above this HU belong to the patient rather than to the air around them (air -1000,
#: lung -850..-500, fat -120..-80): the body-mask threshold used for z-score statistics.
BODY_THRESHOLD_HU = -500.0
#: Smallest tumour accepted by :func:`check_mask` by default: 3 x 3 x 3 voxels, the smallest region
#: on which texture matrices (GLCM with distance 1 in 13 directions) are not degenerate.
MIN_VOXELS = 27


# ------------------------------------------------------------------------------------ resampling


def _output_grid(image: sitk.Image, spacing: Sequence[float]) -> tuple[tuple, tuple, tuple]:
    """Size and origin of a grid with ``spacing`` covering the same voxel-edge extent as ``image``.

    The input spans ``[origin - s/2, origin + (n - 1/2) s]`` along each axis (voxel edges). Keeping
    the origin and rounding the size, as often done, would shift that extent by half the difference
    between old and new spacing; here the first new voxel edge coincides with the first old one,
    so the two extents agree to within half a new voxel at the far end.
    """
    old_sp = np.asarray(image.GetSpacing(), float)
    new_sp = np.asarray(spacing, float)
    if new_sp.shape != old_sp.shape or (new_sp <= 0).any():
        raise ValueError(f"spacing must be {old_sp.size} positive numbers, got {spacing!r}")
    size = np.asarray(image.GetSize(), float)
    new_size = np.maximum(np.round(size * old_sp / new_sp), 1).astype(int)
    direction = np.asarray(image.GetDirection(), float).reshape(old_sp.size, old_sp.size)
    shift = direction @ ((new_sp - old_sp) / 2.0)
    origin = np.asarray(image.GetOrigin(), float) + shift
    return (
        tuple(int(v) for v in new_size),
        tuple(float(v) for v in new_sp),
        tuple(float(v) for v in origin),
    )


def resample_image(
    image: sitk.Image,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    interpolator: str = "bspline",
) -> sitk.Image:
    """Resample a CT volume to ``spacing`` (mm) over the same physical extent, as float32 HU.

    Cubic B-spline interpolation (``sitkBSpline``, the default; Unser 1999) is smooth and preserves
    texture better than linear interpolation, which low-pass filters the image anisotropically;
    seed 001 and the IBSI guidelines (Zwanenburg et al., Radiology 2020) resample images with
    (at least) linear interpolation and masks separately. The output is float32 so that the
    spline's fractional values and small overshoots at edges are kept, not rounded or wrapped.
    Points outside the input (only possible within half a voxel of the far border) take the
    image minimum (air).

    Parameters
    ----------
    image:
        A 3-D scalar image.
    spacing:
        Output voxel size in mm, (x, y, z).
    interpolator:
        ``"bspline"``, ``"linear"``, ``"nearest"`` or ``"lanczos"``.
    """
    if interpolator not in INTERPOLATORS:
        raise ValueError(f"interpolator must be one of {sorted(INTERPOLATORS)}, got {interpolator!r}")
    size, new_sp, origin = _output_grid(image, spacing)
    mm = sitk.MinimumMaximumImageFilter()
    mm.Execute(image)
    return sitk.Resample(
        sitk.Cast(image, sitk.sitkFloat32),
        size,
        sitk.Transform(),
        INTERPOLATORS[interpolator],
        origin,
        new_sp,
        image.GetDirection(),
        float(mm.GetMinimum()),
        sitk.sitkFloat32,
    )


def resample_mask(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Resample a binary mask or label map (0 = background) onto ``reference``'s voxel grid.

    Each label's indicator is resampled with linear interpolation and the label kept where its
    interpolated value is the largest and at least 0.5 (for a binary mask: linear interpolation
    then threshold 0.5). The 0.5 iso-surface of the linearly interpolated indicator passes halfway
    between inside and outside voxel centres, i.e. through the original voxel boundary, so volume
    is preserved to first order; nearest-neighbour resampling instead moves the boundary by up to
    half a voxel (systematic volume changes of 10-30 % for small lesions on 5 mm slices) and
    ``sitkLabelGaussian`` blurs with a kernel tied to the output spacing that rounds off corners.
    The result is uint8 with the reference's exact geometry; values outside the mask's own
    extent are background.
    """
    arr = sitk.GetArrayViewFromImage(mask)
    labels = [int(v) for v in np.unique(arr) if v != 0]
    if len(labels) > 255:
        raise ValueError(f"label map has {len(labels)} labels; at most 255 fit in uint8")
    out = np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8)
    best = np.full(out.shape, 0.5, np.float32)
    for lab in labels:
        indicator = sitk.Cast(mask == lab, sitk.sitkFloat32)
        p = sitk.GetArrayFromImage(
            sitk.Resample(indicator, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                          sitk.sitkFloat32)
        )
        take = p >= best
        out[take] = lab
        best[take] = p[take]
    img = sitk.GetImageFromArray(out)
    img.CopyInformation(reference)
    return img


# --------------------------------------------------------------------------------- normalisation


def body_mask(image: sitk.Image, threshold: float = BODY_THRESHOLD_HU) -> sitk.Image:
    """The patient's body: the largest connected region above ``threshold`` HU, holes filled.

    Holes (bowel gas, lung) are filled slice by slice, because in 3-D they may touch the edge of a
    cropped field of view. Returns a uint8 mask (all zeros if nothing exceeds the threshold).
    """
    mm = sitk.MinimumMaximumImageFilter()
    mm.Execute(image)
    if mm.GetMaximum() < threshold:
        fg = sitk.Image(image.GetSize(), sitk.sitkUInt8)
        fg.CopyInformation(image)
    else:  # the upper bound must be representable in the pixel type (int16 for DICOM CT)
        fg = sitk.BinaryThreshold(image, float(threshold), float(mm.GetMaximum()), 1, 0)
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(fg, True), sortByObjectSize=True)
    largest = sitk.GetArrayFromImage(cc) == 1
    filled = np.stack([ndimage.binary_fill_holes(s) for s in largest]) if largest.any() else largest
    out = sitk.GetImageFromArray(filled.astype(np.uint8))
    out.CopyInformation(image)
    return out


def normalise(
    image: sitk.Image,
    method: str,
    *,
    window: Sequence[float] = (-100.0, 400.0),
    body_threshold: float = BODY_THRESHOLD_HU,
) -> sitk.Image:
    """Intensity normalisation of a CT volume; returns float32 (``none`` returns the input).

    Methods
    -------
    ``none``
        CT values are already calibrated Hounsfield units; radiomics with a fixed bin width on HU
        (PyRadiomics ``binWidth``) needs no normalisation.
    ``hu_clip``
        Clip to ``window`` = (low, high) HU. The default (-100, 400) spans fat-free soft tissue,
        enhancing tumour and contrast-filled vessels; it removes air and bone, whose extreme values
        otherwise dominate first-order statistics of a tumour mask that grazes them.
    ``hu_window_zscore``
        Clip to ``window``, then z-score with the mean and SD of the clipped values *inside the
        body* (:func:`body_mask`), falling back to the whole image when no voxel exceeds
        ``body_threshold``. Statistics over the whole image would depend on how much air the
        field of view happens to include (a tight reconstruction FOV versus a full-width one),
        which differs between centres and phases; the body does not. This matches PyRadiomics'
        ``normalize`` (z-score, Fortin et al. 2014) restricted to the patient.
    """
    if method not in NORMALISATION_METHODS:
        raise ValueError(f"normalisation method must be one of {NORMALISATION_METHODS}, got {method!r}")
    if method == "none":
        return image
    low, high = (float(v) for v in window)
    if not low < high:
        raise ValueError(f"window must be (low, high) with low < high, got {window!r}")
    arr = np.clip(sitk.GetArrayFromImage(image).astype(np.float32), low, high)
    if method == "hu_window_zscore":
        body = sitk.GetArrayFromImage(body_mask(image, body_threshold)).astype(bool)
        values = arr[body] if body.any() else arr
        sd = float(values.std())
        arr = (arr - float(values.mean())) / (sd if sd > 0 else 1.0)
    out = sitk.GetImageFromArray(arr.astype(np.float32))
    out.CopyInformation(image)
    return out


# ------------------------------------------------------------------- preparation for extraction


def crop_to_mask(image: sitk.Image, mask: sitk.Image, margin_mm: float) -> tuple[sitk.Image, sitk.Image]:
    """Crop image and mask (same grid) to the mask's bounding box plus ``margin_mm`` on each side.

    Resampling and filtering a whole 512 x 512 x 200 CT to extract features from a 5 cm tumour
    wastes time and memory; PyRadiomics crops the same way before it resamples.
    """
    arr = sitk.GetArrayViewFromImage(mask)
    idx = np.argwhere(arr > 0)
    if idx.size == 0:
        raise ValueError("cannot crop to an empty mask")
    pad = np.ceil(float(margin_mm) / np.asarray(image.GetSpacing(), float)).astype(int)[::-1]
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, arr.shape)
    # RegionOfInterest takes (x, y, z) index and size and keeps the physical position.
    index = [int(v) for v in lo[::-1]]
    size = [int(v) for v in (hi - lo)[::-1]]
    return (sitk.RegionOfInterest(image, size, index), sitk.RegionOfInterest(mask, size, index))


def prepare_roi(
    image: sitk.Image,
    mask: sitk.Image,
    *,
    spacing_mm: Sequence[float] | None = (1.0, 1.0, 1.0),
    interpolator: str = "bspline",
    normalisation: str = "none",
    window: Sequence[float] = (-100.0, 400.0),
    margin_mm: float = 20.0,
) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask as the feature extractor should see them (DESIGN.md: resample -> normalise).

    Order: normalise on the whole scan (the z-score statistics come from the body, not from a
    crop), crop to the tumour plus ``margin_mm`` (enough for the LoG and wavelet supports), then
    resample the image with ``interpolator`` (:func:`resample_image`) and the mask label-safely
    onto the new grid (:func:`resample_mask`; a label map 1..K of lesions keeps its labels).
    ``spacing_mm=None`` keeps the native grid. ``normalisation="pyradiomics"`` is left to
    PyRadiomics (its ``normalize`` setting) and does nothing here.
    """
    if normalisation not in (*NORMALISATION_METHODS, "pyradiomics"):
        raise ValueError(
            f"normalisation must be one of {(*NORMALISATION_METHODS, 'pyradiomics')}, "
            f"got {normalisation!r}"
        )
    if normalisation in NORMALISATION_METHODS:
        image = normalise(image, normalisation, window=window)
    image, mask = crop_to_mask(image, mask, margin_mm)
    if spacing_mm is not None:
        image = resample_image(image, spacing_mm, interpolator)
        mask = resample_mask(mask, image)
        if not sitk.GetArrayViewFromImage(mask).any():
            raise PatientInputError(
                f"the tumour mask vanishes when resampled to {list(spacing_mm)} mm (config "
                "radiomics.spacing_mm): the lesion is too small for the new grid"
            )
    return image, mask


# ------------------------------------------------------------------------------------ mask checks


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-4)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4)
    )


def _on_grid(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    binary = sitk.Cast(mask > 0, sitk.sitkUInt8)
    if _same_grid(binary, reference):
        binary.CopyInformation(reference)
        return binary
    return resample_mask(binary, reference)


def check_mask(
    mask: sitk.Image,
    image: sitk.Image,
    *,
    min_voxels: int = MIN_VOXELS,
    components: str = "largest",
    patient: str | None = None,
    phase: str | None = None,
    path: PathType | None = None,
) -> tuple[sitk.Image, dict]:
    """Check a tumour mask against its image and apply a connected-components policy.

    The mask may be on another grid than ``image`` (e.g. drawn on the other phase, or before
    resampling); it is then resampled label-safely onto the image grid (:func:`resample_mask`).
    Every voxel > 0 is tumour. Components are 26-connected (``sitk.ConnectedComponent`` with
    ``fullyConnected=True``), so a lesion is not split where it touches itself diagonally.

    Parameters
    ----------
    min_voxels:
        Smallest tumour (in voxels of ``image``) accepted. ``largest``: the largest component;
        ``merged``: all components together; ``per_lesion``: each lesion, smaller ones are
        dropped (listed in ``info["dropped_components"]``).
    components:
        ``largest`` keeps the largest component (the index lesion; satellites and segmentation
        specks are dropped), ``merged`` keeps all as one binary region (tumour burden),
        ``per_lesion`` returns a label map 1..K ordered by decreasing volume, for per-lesion
        feature extraction aggregated by volume downstream.

    Returns
    -------
    (mask, info)
        The uint8 mask on ``image``'s grid and a JSON-serialisable dict: ``policy``, ``resampled``,
        ``n_components``, ``component_voxels`` and ``component_volumes_mm3`` (decreasing),
        ``kept_voxels``, ``kept_volume_mm3``, ``touches_border``, ``border_faces`` (e.g.
        ``["z-", "x+"]``: the tumour may be cut off by the field of view), ``outside_fraction``
        (fraction of the mask's physical volume lost outside the image), ``dropped_components``
        and ``warnings``.

    Raises
    ------
    PatientInputError
        Empty mask, mask entirely outside the image, tumour below ``min_voxels``.
    """
    if components not in COMPONENT_POLICIES:
        raise ValueError(f"components must be one of {COMPONENT_POLICIES}, got {components!r}")

    def error(reason: str) -> PatientInputError:
        return PatientInputError(reason, patient=patient, phase=phase, path=path)

    src = sitk.GetArrayViewFromImage(mask)
    n_src = int(np.count_nonzero(src))
    if n_src == 0:
        raise error("mask is empty (no voxel > 0)")
    src_volume = n_src * float(np.prod(mask.GetSpacing()))
    resampled = not _same_grid(mask, image)
    on_grid = _on_grid(mask, image)
    arr = sitk.GetArrayFromImage(on_grid).astype(bool)
    voxel_mm3 = float(np.prod(image.GetSpacing()))
    if not arr.any():
        raise error(
            f"mask ({n_src} voxels, {src_volume:.0f} mm3) lies entirely outside the image's field "
            "of view; wrong image, wrong phase or wrong coordinate system?"
        )
    outside = max(0.0, 1.0 - arr.sum() * voxel_mm3 / src_volume) if resampled else 0.0

    cc = sitk.RelabelComponent(sitk.ConnectedComponent(on_grid, True), sortByObjectSize=True)
    labels = sitk.GetArrayFromImage(cc)
    counts = np.bincount(labels.ravel())[1:]
    n_comp = int(counts.size)

    dropped: list[int] = []
    if components == "largest":
        kept = (labels == 1).astype(np.uint8)
        dropped = [int(c) for c in counts[1:]]
        n_kept = int(counts[0])
    elif components == "merged":
        kept = (labels > 0).astype(np.uint8)
        n_kept = int(counts.sum())
    else:
        big = counts >= min_voxels
        dropped = [int(c) for c in counts[~big]]
        kept = np.where(labels <= int(big.sum()), labels, 0).astype(np.uint8)
        n_kept = int(counts[big].sum())
    if n_kept < min_voxels:
        what, n = (
            ("the tumour", n_kept) if components == "merged"
            else ("the largest component", int(counts[0]))
        )
        raise error(
            f"tumour too small: {what} has {n} voxels ({n * voxel_mm3:.1f} mm3), fewer than the "
            f"minimum of {min_voxels}"
        )

    size = arr.shape  # (z, y, x)
    faces = []
    for axis, name in ((2, "x"), (1, "y"), (0, "z")):
        if np.take(kept, 0, axis=axis).any():
            faces.append(f"{name}-")
        if np.take(kept, size[axis] - 1, axis=axis).any():
            faces.append(f"{name}+")
    warnings = []
    if faces:
        warnings.append(
            f"tumour touches the volume border ({', '.join(faces)}): it may extend beyond the "
            "field of view, so shape features are unreliable"
        )
    if outside > 0.01:
        warnings.append(f"{100 * outside:.1f} % of the mask volume lies outside the image")
    if dropped:
        warnings.append(f"{len(dropped)} component(s) dropped by the '{components}' policy")

    out = sitk.GetImageFromArray(kept)
    out.CopyInformation(image)
    info = {
        "policy": components,
        "resampled": resampled,
        "n_components": n_comp,
        "component_voxels": [int(c) for c in counts],
        "component_volumes_mm3": [float(c * voxel_mm3) for c in counts],
        "kept_voxels": n_kept,
        "kept_volume_mm3": float(n_kept * voxel_mm3),
        "n_lesions": int(kept.max()) if components == "per_lesion" else 1,
        "touches_border": bool(faces),
        "border_faces": faces,
        "outside_fraction": float(outside),
        "dropped_components": dropped,
        "warnings": warnings,
    }
    return out, info


# -------------------------------------------------------------------------------- phase agreement


def _centroid_mm(mask: sitk.Image) -> np.ndarray:
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)  # (x, y, z)
    c = idx.mean(axis=0)
    direction = np.asarray(mask.GetDirection(), float).reshape(3, 3)
    return np.asarray(mask.GetOrigin(), float) + direction @ (c * np.asarray(mask.GetSpacing()))


def phase_agreement(mask_a: sitk.Image, mask_b: sitk.Image) -> dict:
    """Agreement of two masks of the same tumour drawn on different phases (grids).

    ``mask_b`` is resampled onto ``mask_a``'s grid (:func:`resample_mask`) for the Dice
    coefficient; centroids and volumes are computed on each mask's own grid in physical space.
    Every voxel > 0 counts as tumour.

    Returns
    -------
    dict
        ``dice``, ``centroid_distance_mm``, ``volume_a_mm3``, ``volume_b_mm3``, ``volume_ratio``
        (b / a).
    """
    a = sitk.GetArrayViewFromImage(mask_a) > 0
    b_on_a = sitk.GetArrayFromImage(_on_grid(mask_b, mask_a)) > 0  # a view would outlive its image
    n_a, n_b_on_a = int(a.sum()), int(b_on_a.sum())
    dice = 2.0 * np.logical_and(a, b_on_a).sum() / (n_a + n_b_on_a) if n_a + n_b_on_a else 1.0
    n_b = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask_b)))
    vol_a = n_a * float(np.prod(mask_a.GetSpacing()))
    vol_b = n_b * float(np.prod(mask_b.GetSpacing()))
    if n_a and n_b:
        dist = float(np.linalg.norm(_centroid_mm(mask_a) - _centroid_mm(mask_b)))
    else:
        dist = math.nan
    return {
        "dice": float(dice),
        "centroid_distance_mm": dist,
        "volume_a_mm3": vol_a,
        "volume_b_mm3": vol_b,
        "volume_ratio": vol_b / vol_a if vol_a else math.nan,
    }


def check_phase_agreement(
    mask_a: sitk.Image,
    mask_b: sitk.Image,
    *,
    min_dice: float = 0.3,
    max_centroid_mm: float = 15.0,
    max_volume_ratio: float = 2.5,
    patient: str | None = None,
    phases: tuple[str, str] = ("arterial", "venous"),
    path: PathType | None = None,
) -> dict:
    """:func:`phase_agreement`, raising when the two phases' masks cannot be the same tumour.

    The phases are separate breath-holds, so some misregistration (typically < 10 mm) and a
    volume difference from enhancement-dependent boundaries are expected; the defaults only
    catch gross errors: masks that do not overlap at all, masks swapped between patients or
    lesions, a mask drawn on the wrong series. ``max_volume_ratio`` is symmetric (the larger
    volume over the smaller).

    Raises
    ------
    PatientInputError
        No overlap, Dice below ``min_dice``, centroids further apart than ``max_centroid_mm`` or a
        volume ratio beyond ``max_volume_ratio``; the message gives all three figures.
    """
    agreement = phase_agreement(mask_a, mask_b)
    a_name, b_name = phases
    ratio = agreement["volume_ratio"]
    sym_ratio = max(ratio, 1.0 / ratio) if ratio and math.isfinite(ratio) else math.inf
    figures = (
        f"Dice {agreement['dice']:.2f}, centroid distance {agreement['centroid_distance_mm']:.1f} mm,"
        f" volume {agreement['volume_a_mm3']:.0f} vs {agreement['volume_b_mm3']:.0f} mm3"
    )
    problems = []
    if agreement["dice"] == 0.0:
        problems.append(f"the {a_name} and {b_name} masks do not overlap at all")
    elif agreement["dice"] < min_dice:
        problems.append(f"Dice below {min_dice}")
    if not agreement["centroid_distance_mm"] <= max_centroid_mm:
        problems.append(f"centroids more than {max_centroid_mm} mm apart")
    if sym_ratio > max_volume_ratio:
        problems.append(f"volumes differ by more than a factor {max_volume_ratio}")
    if problems:
        raise PatientInputError(
            f"{a_name}/{b_name} masks disagree: {'; '.join(problems)} ({figures})",
            patient=patient,
            phase=f"{a_name}+{b_name}",
            path=path,
        )
    return agreement
