"""Tumour-centred crops of the CT phases: the input of the deep branch (seed 000).

The imaging branch writes each patient's phases with the tumour mask on the same grid
(``results/imaging/{patient}/{phase}/image.nii.gz`` and ``mask.nii.gz``), in the scan's own voxel
spacing. :func:`tumour_crop` resamples a fixed-size box (48 mm a side by default) of one phase
onto a grid of ``voxel_mm`` voxels (1 mm by default; linear interpolation of the image, nearest
neighbour of the mask), so crops of scans with different spacings have one shape and scale:

* **Orientation.** Image and mask are first re-oriented to LPS (``sitk.DICOMOrient``; a
  permutation/flip of the axes, no interpolation), so axis 0 of every crop is the
  cranio-caudal axis and ``crop[..., k, :, :]`` is an axial slice whatever the file's direction
  matrix. Crops are indexed ``(D, H, W) = (z, y, x)`` and ``size_mm`` is given in that order.
* **Centre.** The box is centred on the centre of the tumour mask's bounding box (all voxels
  ``> 0``, every lesion of the mask), not on its centre of mass: the bounding-box centre puts the
  whole tumour extent symmetrically in the box whenever it fits, whereas the centroid of an
  irregular or multi-lesion mask is pulled towards its bulk and can push the far margin out of
  the crop. The centre voxel is ``crop[n // 2]`` along each axis (``n`` voxels per axis, ``n =
  round(size_mm / spacing)``). Each phase is centred on its own mask, so the tumour is aligned
  across channels even when the phases' grids differ.
* **Intensities.** Hounsfield units are clipped to ``window`` (default -100..240 HU, a liver
  window that keeps arterial hyper-enhancement and wash-out apart) and scaled linearly to [0, 1].
* **Outside the volume.** Where the box leaves the scanned volume it is filled with the window
  minimum (0 after scaling). The fraction of crop voxels that were padded is reported
  (:class:`CropInfo`, logged when non-zero); more than ``max_outside`` (default 0.5) is refused.

Unusable input raises :class:`~hccfusion.errors.PatientInputError` naming the file and the
problem: a missing or unreadable file, an empty mask, a mask that is not on the image's voxel grid
(size, spacing, origin or direction differ), a crop that leaves the volume by more than
``max_outside``, non-finite intensities in the crop. :func:`patient_crops` stacks the phases
``(phases, D, H, W)`` and names a missing phase. :func:`save_crop` / :func:`load_crop` store a
crop with its metadata in a compressed ``.npz`` (no pickle).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hccfusion.errors import PatientInputError

__all__ = [
    "DEFAULT_SIZE_MM",
    "DEFAULT_WINDOW",
    "CropInfo",
    "crop_phase",
    "load_crop",
    "patient_crops",
    "patient_crops_with_info",
    "save_crop",
    "tumour_crop",
]

log = logging.getLogger(__name__)

PathType = str | PathLike[str]

DEFAULT_SIZE_MM = (48.0, 48.0, 48.0)
DEFAULT_WINDOW = (-100.0, 240.0)
CROP_FORMAT = "hccfusion-crop"
CROP_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CropInfo:
    """Where one phase's crop came from.

    Attributes:
        phase: phase name (``None`` when cropped on its own).
        image, mask: the files read.
        size_mm: requested box size ``(z, y, x)`` in mm.
        size_vox: box size in voxels ``(D, H, W)``.
        spacing_mm: voxel spacing ``(z, y, x)`` after re-orientation to LPS.
        window: HU window ``(low, high)``.
        centre_index: centre voxel ``(z, y, x)`` in the LPS-oriented image array.
        centre_mm: the same point in physical (LPS) coordinates ``(x, y, z)``.
        fraction_outside: fraction of crop voxels outside the scanned volume (padded).
        tumour_fraction_inside: fraction of the mask's voxels inside the crop (below 1 when the
            tumour is larger than the box).
    """

    phase: str | None
    image: str
    mask: str
    size_mm: tuple[float, float, float]
    size_vox: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    window: tuple[float, float]
    centre_index: tuple[int, int, int]
    centre_mm: tuple[float, float, float]
    fraction_outside: float
    tumour_fraction_inside: float

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _read(path: PathType, what: str, patient: str | None, phase: str | None) -> sitk.Image:
    p = Path(path)
    if not p.is_file():
        raise PatientInputError(f"{what} file does not exist", patient=patient, phase=phase, path=p)
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PatientInputError(f"{what} cannot be read as an image ({first})", patient=patient,
                                phase=phase, path=p) from None
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise PatientInputError(
            f"{what} must be a 3D scalar image, got {img.GetDimension()}D with "
            f"{img.GetNumberOfComponentsPerPixel()} component(s) per voxel",
            patient=patient, phase=phase, path=p)
    return img


def _geometry_differences(image: sitk.Image, mask: sitk.Image) -> list[str]:
    diffs = []
    if image.GetSize() != mask.GetSize():
        diffs.append(f"size {mask.GetSize()} vs image {image.GetSize()}")
    if not np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=1e-4, atol=1e-6):
        diffs.append(f"spacing {tuple(round(s, 4) for s in mask.GetSpacing())} vs image "
                     f"{tuple(round(s, 4) for s in image.GetSpacing())}")
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), atol=1e-3):
        diffs.append(f"origin {tuple(round(s, 3) for s in mask.GetOrigin())} vs image "
                     f"{tuple(round(s, 3) for s in image.GetOrigin())}")
    if not np.allclose(image.GetDirection(), mask.GetDirection(), atol=1e-4):
        diffs.append("direction matrix differs from the image's")
    return diffs


def _voxels(size_mm: Sequence[float], spacing_zyx: Sequence[float]) -> tuple[int, int, int]:
    if len(size_mm) != 3 or any(not np.isfinite(s) or s <= 0 for s in size_mm):
        raise ValueError(f"size_mm must be three positive numbers (z, y, x), got {size_mm!r}")
    return tuple(max(1, round(float(s) / float(sp))) for s, sp in zip(size_mm, spacing_zyx,
                                                                      strict=True))


def _check_window(window: Sequence[float]) -> tuple[float, float]:
    if len(window) != 2 or not float(window[0]) < float(window[1]):
        raise ValueError(f"window must be (low, high) HU with low < high, got {window!r}")
    return float(window[0]), float(window[1])


def crop_phase(
    image_path: PathType,
    mask_path: PathType,
    size_mm: Sequence[float] = DEFAULT_SIZE_MM,
    window: Sequence[float] = DEFAULT_WINDOW,
    *,
    max_outside: float = 0.5,
    voxel_mm: float = 1.0,
    phase: str | None = None,
    patient: str | None = None,
) -> tuple[np.ndarray, CropInfo]:
    """One phase's tumour crop ``(D, H, W)`` in [0, 1] (float32) and its :class:`CropInfo`.

    See the module docstring for orientation, centring, windowing and padding. ``phase`` and
    ``patient`` only label error messages and the info.
    """
    lo, hi = _check_window(window)
    if not 0.0 <= float(max_outside) <= 1.0:
        raise ValueError(f"max_outside must be a fraction in [0, 1], got {max_outside!r}")
    image = _read(image_path, "image", patient, phase)
    mask = _read(mask_path, "mask", patient, phase)
    diffs = _geometry_differences(image, mask)
    if diffs:
        raise PatientInputError(
            f"mask is not on the voxel grid of image {image_path} ({'; '.join(diffs)}); "
            "resample the mask onto the image first", patient=patient, phase=phase, path=mask_path)
    image = sitk.DICOMOrient(image, "LPS")
    mask = sitk.DICOMOrient(mask, "LPS")
    m = sitk.GetArrayViewFromImage(mask) > 0
    if not m.any():
        raise PatientInputError("mask is empty (no voxel > 0)", patient=patient, phase=phase,
                                path=mask_path)
    if not np.isfinite(sitk.GetArrayViewFromImage(image)).all():
        raise PatientInputError("image has non-finite intensities (NaN or inf)",
                                patient=patient, phase=phase, path=image_path)
    # The crop is resampled onto its own grid of voxel_mm voxels (linear image, nearest mask),
    # so crops of scans with any spacing have the same shape and scale.
    spacing = (float(voxel_mm),) * 3
    n = _voxels(size_mm, spacing)
    coords = np.nonzero(m)
    centre = tuple(int((int(c.min()) + int(c.max())) // 2) for c in coords)
    # The (floored) centre voxel lands on crop index n // 2; on a grid of the scan's own
    # spacing the crop is then an exact copy of the scan's voxels.
    centre_pt = np.array(image.TransformIndexToPhysicalPoint([int(c) for c in centre[::-1]]))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    half = np.array([k // 2 for k in n[::-1]], dtype=float) * voxel_mm  # x, y, z
    grid = sitk.Image([int(k) for k in n[::-1]], sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(tuple(float(v) for v in centre_pt - direction @ half))
    ones = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(image)
    inside_map = sitk.GetArrayFromImage(
        sitk.Resample(ones, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    fraction_outside = 1.0 - float(inside_map.mean())
    if fraction_outside > max_outside:
        raise PatientInputError(
            f"the {'x'.join(f'{s:g}' for s in size_mm)} mm crop centred on the tumour (voxel "
            f"z,y,x = {centre}) leaves the image volume {tuple(image.GetSize())} (x,y,z voxels "
            f"of {tuple(round(v, 3) for v in image.GetSpacing())} mm) by "
            f"{fraction_outside:.0%} of its voxels, more than max_outside = {max_outside:.0%}",
            patient=patient, phase=phase, path=image_path)
    values = sitk.GetArrayFromImage(sitk.Resample(
        sitk.Cast(image, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear, lo,
        sitk.sitkFloat32))
    crop = ((np.clip(values, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    crop_mask = sitk.GetArrayFromImage(sitk.Resample(  # a copy: the resampled image is temporary
        sitk.Cast(mask > 0, sitk.sitkUInt8), grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
        sitk.sitkUInt8))
    voxel_volume = float(np.prod(image.GetSpacing()))
    tumour_inside = min(1.0, float(crop_mask.sum()) * voxel_mm ** 3 / (float(m.sum())
                                                                      * voxel_volume))
    centre_mm = tuple(float(v) for v in
                      image.TransformIndexToPhysicalPoint(tuple(int(c) for c in centre[::-1])))
    info = CropInfo(
        phase=phase, image=str(image_path), mask=str(mask_path),
        size_mm=tuple(float(s) for s in size_mm), size_vox=n, spacing_mm=spacing,
        window=(lo, hi), centre_index=centre, centre_mm=centre_mm,
        fraction_outside=round(fraction_outside, 6),
        tumour_fraction_inside=round(tumour_inside, 6),
    )
    who = ", ".join(x for x in (patient and f"patient {patient}", phase and f"phase {phase}") if x)
    if fraction_outside > 0:
        log.info("%s: %.1f%% of the crop lies outside the image volume (padded with %g HU)",
                 who or image_path, 100 * fraction_outside, lo)
    if tumour_inside < 1.0:
        log.warning("%s: the tumour is larger than the %s mm crop; %.1f%% of its voxels are inside",
                    who or mask_path, "x".join(f"{s:g}" for s in size_mm), 100 * tumour_inside)
    return crop, info


def tumour_crop(
    image_path: PathType,
    mask_path: PathType,
    size_mm: Sequence[float] = DEFAULT_SIZE_MM,
    window: Sequence[float] = DEFAULT_WINDOW,
    *,
    max_outside: float = 0.5,
    phase: str | None = None,
    patient: str | None = None,
) -> np.ndarray:
    """One phase's tumour crop ``(D, H, W)``; :func:`crop_phase` without the info."""
    return crop_phase(image_path, mask_path, size_mm, window, max_outside=max_outside,
                      phase=phase, patient=patient)[0]


def patient_crops_with_info(
    paths_by_phase: Mapping[str, tuple[PathType, PathType]],
    phases: Sequence[str] | None = None,
    size_mm: Sequence[float] = DEFAULT_SIZE_MM,
    window: Sequence[float] = DEFAULT_WINDOW,
    *,
    max_outside: float = 0.5,
    patient: str | None = None,
) -> tuple[np.ndarray, list[CropInfo]]:
    """All phases of one patient: ``(phases, D, H, W)`` and one :class:`CropInfo` per phase.

    ``paths_by_phase`` maps a phase name to ``(image_path, mask_path)``; ``phases`` fixes the
    channel order (default: the mapping's order) and every one of them must be present.
    """
    phases = list(paths_by_phase) if phases is None else list(phases)
    if not phases:
        raise ValueError("no phases to crop")
    crops, infos = [], []
    for phase in phases:
        paths = paths_by_phase.get(phase)
        if paths is None or len(paths) != 2 or any(p is None or str(p) == "" for p in paths):
            have = ", ".join(str(p) for p in paths_by_phase if paths_by_phase[p]) or "none"
            raise PatientInputError(f"phase {phase!r} is missing (image and mask needed; phases "
                                    f"given: {have})", patient=patient, phase=phase)
        crop, info = crop_phase(paths[0], paths[1], size_mm, window, max_outside=max_outside,
                                phase=phase, patient=patient)
        crops.append(crop)
        infos.append(info)
    return np.stack(crops), infos


def patient_crops(
    paths_by_phase: Mapping[str, tuple[PathType, PathType]],
    phases: Sequence[str] | None = None,
    size_mm: Sequence[float] = DEFAULT_SIZE_MM,
    window: Sequence[float] = DEFAULT_WINDOW,
    *,
    max_outside: float = 0.5,
    patient: str | None = None,
) -> np.ndarray:
    """All phases of one patient ``(phases, D, H, W)``; :func:`patient_crops_with_info` without
    the info."""
    return patient_crops_with_info(paths_by_phase, phases, size_mm, window,
                                   max_outside=max_outside, patient=patient)[0]


def save_crop(path: PathType, crop: np.ndarray, info: Sequence[CropInfo] | CropInfo = (),
              *, patient: str | None = None) -> Path:
    """Write a crop and its metadata to a compressed ``.npz`` (``crop`` + a JSON ``meta``).

    The meta holds the format, ``patient``, ``phases``, the crop shape, and per phase the
    :class:`CropInfo` fields (size, window, centre index, fraction outside, ...).
    """
    crop = np.asarray(crop, dtype=np.float32)
    infos = [info] if isinstance(info, CropInfo) else list(info)
    if infos and len(infos) != (crop.shape[0] if crop.ndim == 4 else 1):
        raise ValueError(f"{len(infos)} crop infos for a crop of shape {crop.shape}")
    meta = {
        "format": CROP_FORMAT,
        "format_version": CROP_FORMAT_VERSION,
        "patient": patient,
        "shape": list(crop.shape),
        "phases": [i.phase for i in infos],
        "crops": [i.to_dict() for i in infos],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, crop=crop, meta=np.array(json.dumps(meta, sort_keys=True)))
    return path


def load_crop(path: PathType) -> tuple[np.ndarray, dict]:
    """Read a crop written by :func:`save_crop`: ``(crop, meta)``; never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as data:
            crop = data["crop"]
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise PatientInputError(f"not a crop file written by save_crop ({exc})",
                                path=path) from None
    if meta.get("format") != CROP_FORMAT:
        raise PatientInputError(f"not a crop file (format {meta.get('format')!r})", path=path)
    return crop, meta
