"""Read one patient's CT phase and its tumour mask, check them, and write de-identified NIfTI.

This is the first per-patient step of the imaging branch (DESIGN.md section 2: *ingest DICOM/NIfTI
-> de-identify*). Everything downstream (resampling, radiomics, habitats, crops) trusts that

* the image is a 3-D volume in Hounsfield units (int16 or float32) whose slices are complete and
  evenly spaced, because a missing or duplicated slice silently distorts shape and texture features;
* the mask is a binary uint8 volume on exactly the image's voxel grid;
* the written files carry no patient-identifying metadata.

Any violation raises :class:`hccfusion.errors.PatientInputError` naming the patient, the phase, the
offending file and the problem, so a cohort run points straight at the input to fix.

DICOM headers are read with pydicom (``stop_before_pixels=True``) for the checks; pixels are read
with SimpleITK's GDCM-backed ``ImageSeriesReader``, which applies the rescale slope/intercept.

Masks may also be DICOM objects: a DICOM-SEG (read with highdicom; one segment selected by number
or label, frames placed on the image grid by their ImagePositionPatient) or an RTSTRUCT (one ROI
selected by name; its planar contours rasterised on the image grid). Both must share the image's
FrameOfReferenceUID, which :func:`read_image` keeps on a DICOM image as metadata key ``0020|0052``
(dropped again by :func:`ingest` before writing).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from hccfusion.errors import PatientInputError

__all__ = ["acquisition_info", "ingest", "read_image", "read_mask", "write_deidentified"]

log = logging.getLogger(__name__)

PathType = str | PathLike[str]

#: Gap between neighbouring slices, relative to the median step, above which slices are missing.
GAP_FACTOR = 1.5
#: Steps differing from the median by more than this fraction (plus 1 micrometre) are non-uniform.
STEP_RTOL = 0.01
#: Slices closer than this (mm) along the normal are duplicates.
DUPLICATE_MM = 1e-3
#: Geometry tolerance between image and mask: spacing (relative), origin (mm), direction cosines.
SPACING_RTOL = 1e-3
ORIGIN_ATOL_MM = 1e-2
DIRECTION_ATOL = 1e-3
#: Metadata key (DICOM tag FrameOfReferenceUID) under which read_image keeps a series' frame.
FRAME_OF_REFERENCE_KEY = "0020|0052"
#: A SEG frame or RTSTRUCT contour may sit this far (in voxels) off the image's voxel grid.
GRID_ATOL_VOXELS = 0.1

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

# Files in a DICOM folder that are clearly not DICOM and are skipped instead of reported.
_NOT_DICOM_SUFFIXES = {
    ".txt",
    ".md",
    ".json",
    ".csv",
    ".tsv",
    ".xml",
    ".html",
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".nii",
    ".gz",
    ".nrrd",
    ".nhdr",
    ".mha",
    ".mhd",
    ".zip",
    ".yaml",
    ".yml",
    ".log",
}

_VOLUME_FORMATS = (
    (".nii", "nifti"),
    (".nii.gz", "nifti"),
    (".nrrd", "nrrd"),
    (".nhdr", "nrrd"),
    (".mha", "metaimage"),
    (".mhd", "metaimage"),
)
_ACQUISITION_KEYS = (
    "modality",
    "manufacturer",
    "model",
    "kvp",
    "convolution_kernel",
    "contrast_agent",
    "slice_thickness_mm",
    "spacing_mm",
    "rows",
    "columns",
    "n_slices",
)
_INT16 = np.iinfo(np.int16)


@dataclass
class _Series:
    """A checked DICOM series: its identity, GDCM's file order and the sorted slice headers."""

    folder: Path
    uid: str
    description: str
    files: tuple[str, ...]
    headers: list[Dataset]
    slice_step: float


@dataclass(frozen=True)
class _Ctx:
    patient: str | None
    phase: str | None

    def error(self, reason: str, path: PathType | None) -> PatientInputError:
        return PatientInputError(reason, patient=self.patient, phase=self.phase, path=path)


# ----------------------------------------------------------------------------------------- image


def read_image(
    path: PathType,
    *,
    series: str | None = None,
    patient: str | None = None,
    phase: str | None = None,
) -> sitk.Image:
    """Read a CT volume in Hounsfield units from a DICOM series folder or a single volume file.

    Parameters
    ----------
    path:
        A folder holding one DICOM series (or several, then see ``series``), or a NIfTI / NRRD /
        MHA file (anything SimpleITK reads as a 3-D scalar volume).
    series:
        SeriesInstanceUID or SeriesDescription selecting one series when the folder holds several.
    patient, phase:
        Only used to make error messages point at the right input.

    Returns
    -------
    SimpleITK.Image
        3-D, int16 when the values are integers within the int16 range, otherwise float32.
        From a DICOM series, the image carries the series' FrameOfReferenceUID as metadata key
        ``0020|0052`` (used by :func:`read_mask` to check SEG / RTSTRUCT masks); erase metadata
        before writing the image anywhere, as :func:`ingest` does.

    Raises
    ------
    PatientInputError
        Unreadable file, ambiguous or unknown series, missing or duplicated slices, non-uniform
        slice spacing, inconsistent slice geometry, non-3-D or multi-component image.
    """
    image, _ = _read_image(Path(path), series, _Ctx(patient, phase))
    return image


def _read_image(path: Path, series: str | None, ctx: _Ctx) -> tuple[sitk.Image, _Series | None]:
    if not path.exists():
        raise ctx.error("image not found", path)
    if path.is_dir():
        scanned = _scan_series(path, series, ctx)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(scanned.files)
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise ctx.error(
                f"DICOM pixel data could not be decoded: {_first_line(exc)}", path
            ) from exc
        image = _as_hu(image, ctx, path)
        frame_of_reference = str(scanned.headers[0].get("FrameOfReferenceUID", "")).strip()
        if frame_of_reference:
            # Needed to check DICOM-SEG / RTSTRUCT masks; removed again before anything is written.
            image.SetMetaData(FRAME_OF_REFERENCE_KEY, frame_of_reference)
        return image, scanned
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ctx.error(f"cannot read image: {_first_line(exc)}", path) from exc
    return _as_hu(image, ctx, path), None


def _as_hu(image: sitk.Image, ctx: _Ctx, path: Path) -> sitk.Image:
    """Check dimensionality and return the image as int16 (lossless) or float32."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ctx.error(
            f"expected a grey-level CT image, found {image.GetNumberOfComponentsPerPixel()} "
            "components per voxel",
            path,
        )
    if image.GetDimension() != 3 or min(image.GetSize()) < 2:
        raise ctx.error(f"expected a 3-D volume, found size {image.GetSize()}", path)
    pid = image.GetPixelID()
    if pid in (sitk.sitkInt16, sitk.sitkFloat32):
        return image
    if pid in (sitk.sitkUInt8, sitk.sitkInt8):
        return sitk.Cast(image, sitk.sitkInt16)
    if pid in (sitk.sitkUInt16, sitk.sitkInt32, sitk.sitkUInt32, sitk.sitkInt64, sitk.sitkUInt64):
        mm = sitk.MinimumMaximumImageFilter()
        mm.Execute(image)
        if _INT16.min <= mm.GetMinimum() and mm.GetMaximum() <= _INT16.max:
            return sitk.Cast(image, sitk.sitkInt16)
    return sitk.Cast(image, sitk.sitkFloat32)


def _scan_series(folder: Path, series: str | None, ctx: _Ctx) -> _Series:
    """Read every slice header, select the series, and check that it forms a regular volume."""
    by_uid: dict[str, list[tuple[str, Dataset]]] = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if "".join(file.suffixes[-1:]).lower() in _NOT_DICOM_SUFFIXES:
            continue
        ds = _read_header(file, ctx)
        if ds is None:  # a DICOM object that is not an image slice (DICOMDIR, RTSTRUCT, SR, ...)
            continue
        by_uid.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((str(file), ds))
    if not by_uid:
        raise ctx.error("folder holds no DICOM image slices", folder)

    uid = _select_series(folder, by_uid, series, ctx)
    slices = by_uid[uid]
    headers, step = _check_slices(folder, slices, ctx)

    # GDCM silently drops files it cannot parse (e.g. truncated pixel data): report them instead.
    reader = sitk.ImageSeriesReader
    gdcm_ids = {i.strip("\0 "): i for i in reader.GetGDCMSeriesIDs(str(folder))}
    gdcm_files = (
        reader.GetGDCMSeriesFileNames(str(folder), gdcm_ids[uid]) if uid in gdcm_ids else ()
    )
    ours, theirs = {Path(f) for f, _ in slices}, {Path(f) for f in gdcm_files}
    if not theirs <= ours:
        # GDCM resolves an empty series ID to "the first series"; never mix series silently.
        raise ctx.error(
            "GDCM grouped the slices differently from their SeriesInstanceUID; "
            "give each series a unique UID or its own folder",
            folder,
        )
    rejected = sorted(ours - theirs)
    if rejected:
        raise ctx.error(
            f"{len(rejected)} DICOM file(s) of the series could not be read by GDCM (corrupt or "
            f"truncated): {', '.join(f.name for f in rejected[:5])}",
            rejected[0],
        )
    return _Series(
        folder=folder,
        uid=uid,
        description=str(headers[0].get("SeriesDescription", "")),
        files=tuple(gdcm_files),
        headers=headers,
        slice_step=step,
    )


def _read_header(file: Path, ctx: _Ctx) -> Dataset | None:
    """Header of one file, ``None`` if it is a non-image DICOM object; error if unreadable."""
    try:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
            preamble = True
        except InvalidDicomError:
            # Some exporters omit the 128-byte preamble; accept those only if they look like images.
            ds = pydicom.dcmread(file, stop_before_pixels=True, force=True)
            preamble = False
        if not preamble and ("ImagePositionPatient" not in ds or "SOPClassUID" not in ds):
            raise InvalidDicomError("not a DICOM file (no preamble, no image attributes)")
        if "ImagePositionPatient" not in ds:
            return None
        # Touch the attributes the checks need, so that a damaged header fails here, not later.
        _floats(ds.ImagePositionPatient, 3)
        _floats(ds.ImageOrientationPatient, 6)
        _floats(ds.PixelSpacing, 2)
        _ = (int(ds.Rows), int(ds.Columns))
    except Exception as exc:  # pydicom raises many types on damaged files
        raise ctx.error(f"unreadable DICOM file: {_first_line(exc)}", file) from exc
    return ds


def _select_series(
    folder: Path, by_uid: dict[str, list[tuple[str, Dataset]]], series: str | None, ctx: _Ctx
) -> str:
    def header(uid: str, key: str) -> str:
        return str(by_uid[uid][0][1].get(key, "")).strip()

    def describe(uid: str) -> str:
        # No UID: messages reach logs and results/qc/excluded.tsv, and original UIDs identify.
        number = header(uid, "SeriesNumber") or "none"
        desc = header(uid, "SeriesDescription") or "no description"
        return f"SeriesNumber {number} ({desc}, {len(by_uid[uid])} slices)"

    available = "; ".join(describe(u) for u in by_uid)
    if series is None:
        if len(by_uid) == 1:
            return next(iter(by_uid))
        raise ctx.error(
            f"folder holds {len(by_uid)} DICOM series; choose one with `series` "
            f"(SeriesDescription, SeriesNumber or SeriesInstanceUID): {available}",
            folder,
        )
    if series in by_uid:
        return series
    for key in ("SeriesDescription", "SeriesNumber"):
        matches = [u for u in by_uid if header(u, key) == series]
        if matches:
            break
    if len(matches) == 1:
        return matches[0]
    problem = "matches several series" if matches else "matches no series"
    raise ctx.error(f"series selector {series!r} {problem}; available: {available}", folder)


def _check_slices(
    folder: Path, slices: list[tuple[str, Dataset]], ctx: _Ctx
) -> tuple[list[Dataset], float]:
    """Sort slices along the normal; reject inconsistent, duplicated, missing or uneven slices."""
    if len(slices) < 2:
        raise ctx.error(f"series has {len(slices)} slice; a 3-D volume needs at least 2", folder)
    ref_file, ref = slices[0]
    iop = _floats(ref.ImageOrientationPatient, 6)
    for file, ds in slices[1:]:
        if not np.allclose(_floats(ds.ImageOrientationPatient, 6), iop, atol=1e-4):
            raise ctx.error("slice orientation differs from the rest of the series", file)
        if (int(ds.Rows), int(ds.Columns)) != (int(ref.Rows), int(ref.Columns)):
            raise ctx.error(
                f"slice matrix {ds.Rows}x{ds.Columns} differs from {ref.Rows}x{ref.Columns}", file
            )
        if not np.allclose(_floats(ds.PixelSpacing, 2), _floats(ref.PixelSpacing, 2), rtol=1e-4):
            raise ctx.error("slice pixel spacing differs from the rest of the series", file)

    normal = np.cross(iop[:3], iop[3:])
    pos = np.array([_floats(ds.ImagePositionPatient, 3) for _, ds in slices])
    z = pos @ normal
    order = np.argsort(z, kind="stable")
    z, pos = z[order], pos[order]
    files = [slices[i][0] for i in order]
    steps = np.diff(z)

    dup = np.flatnonzero(steps < DUPLICATE_MM)
    if dup.size:
        i = dup[0]
        raise ctx.error(
            f"{dup.size} duplicated slice position(s), e.g. {z[i]:.3f} mm along the normal in "
            f"{Path(files[i]).name} and {Path(files[i + 1]).name}",
            folder,
        )
    median = float(np.median(steps))
    gaps = np.flatnonzero(steps > GAP_FACTOR * median)
    if gaps.size:
        i = gaps[0]
        missing = int(round(steps[i] / median)) - 1
        raise ctx.error(
            f"missing slices: gap of {steps[i]:.3f} mm between positions {z[i]:.3f} and "
            f"{z[i + 1]:.3f} mm (median step {median:.3f} mm, about {max(missing, 1)} slice(s) "
            f"missing; {gaps.size} gap(s) in total)",
            folder,
        )
    uneven = np.abs(steps - median) > STEP_RTOL * median + 1e-3
    if uneven.any():
        raise ctx.error(
            f"non-uniform slice spacing: steps range {steps.min():.3f}-{steps.max():.3f} mm "
            f"(median {median:.3f} mm)",
            folder,
        )
    # Slices must stack along the normal; an in-plane drift means gantry tilt (sheared volume).
    drift = (pos - pos[0]) - np.outer(z - z[0], normal)
    if np.abs(drift).max() > 1e-2 + STEP_RTOL * median:
        raise ctx.error(
            "slices are not stacked along the slice normal (gantry tilt?); "
            "the volume would be sheared",
            folder,
        )
    return [slices[i][1] for i in order], median


def _floats(value, n: int) -> np.ndarray:
    arr = np.asarray([float(v) for v in value], dtype=float)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise ValueError(f"expected {n} finite numbers, got {value!r}")
    return arr


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # ITK messages start with the source location; the useful part is at the end.
    return (lines[-1] if lines else type(exc).__name__)[:300]


# ----------------------------------------------------------------------------- acquisition info


def acquisition_info(
    path: PathType,
    *,
    series: str | None = None,
    patient: str | None = None,
    phase: str | None = None,
) -> dict:
    """Non-identifying acquisition parameters of a CT series, for harmonisation and Table 1.

    The keys are fixed (values ``None`` when unknown), so rows of many patients form a table:
    ``source_format, modality, manufacturer, model, kvp, convolution_kernel, contrast_agent,
    slice_thickness_mm, spacing_mm (x, y, z), rows, columns, n_slices``.

    Only these whitelisted technical attributes are read: never names, IDs, dates, times,
    institution, station, device serial numbers or UIDs. For a volume file (NIfTI, ...), which
    carries no acquisition header, only the geometry is filled in.
    """
    path = Path(path)
    ctx = _Ctx(patient, phase)
    if path.is_dir():
        return _acquisition_from_series(_scan_series(path, series, ctx))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ctx.error(f"cannot read image header: {_first_line(exc)}", path) from exc
    return _acquisition_from_geometry(path, reader.GetSize(), reader.GetSpacing())


def _empty_acquisition(source_format: str) -> dict:
    return dict.fromkeys(_ACQUISITION_KEYS, None) | {"source_format": source_format}


def _acquisition_from_geometry(path: Path, size: Sequence[int], spacing: Sequence[float]) -> dict:
    name = path.name.lower()
    fmt = next((f for suffix, f in _VOLUME_FORMATS if name.endswith(suffix)), "volume")
    info = _empty_acquisition(fmt)
    info.update(
        spacing_mm=[float(s) for s in spacing],
        columns=int(size[0]),
        rows=int(size[1]),
        n_slices=int(size[2]) if len(size) > 2 else 1,
    )
    return info


def _acquisition_from_series(scanned: _Series) -> dict:
    ds = scanned.headers[0]

    def text(keyword: str) -> str | None:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            return "\\".join(str(v) for v in value)
        return str(value).strip() or None

    def number(keyword: str) -> float | None:
        value = ds.get(keyword)
        try:
            return None if value in (None, "") else float(value)
        except (TypeError, ValueError):
            return None

    info = _empty_acquisition("dicom")
    row_mm, col_mm = _floats(ds.PixelSpacing, 2)  # DICOM: (row spacing = y, column spacing = x)
    info.update(
        modality=text("Modality"),
        manufacturer=text("Manufacturer"),
        model=text("ManufacturerModelName"),
        kvp=number("KVP"),
        convolution_kernel=text("ConvolutionKernel"),
        contrast_agent=text("ContrastBolusAgent"),
        slice_thickness_mm=number("SliceThickness"),
        spacing_mm=[float(col_mm), float(row_mm), float(scanned.slice_step)],
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        n_slices=len(scanned.headers),
    )
    return info


# ------------------------------------------------------------------------------------------ mask


def read_mask(
    path: PathType,
    reference: sitk.Image,
    *,
    label: int | str | None = None,
    patient: str | None = None,
    phase: str | None = None,
) -> sitk.Image:
    """Read a segmentation and return it as a binary uint8 mask on the reference image's grid.

    Parameters
    ----------
    path:
        NIfTI / NRRD / MHA label map, including 3D Slicer ``.seg.nrrd`` files; or a DICOM-SEG or
        RTSTRUCT file (or a folder holding exactly one such object).
    reference:
        The image the mask belongs to (from :func:`read_image`).
    label:
        ``None``: for a Slicer segmentation, the value of its first segment
        (``Segment0_LabelValue``); otherwise every voxel > 0. An ``int`` keeps that label value only
        (e.g. 5 for the liver in TotalSegmentator maps). A ``str`` names a Slicer segment.
        For DICOM-SEG: an ``int`` is a SegmentNumber, a ``str`` a SegmentLabel; for RTSTRUCT: a
        ``str`` is an ROIName (e.g. ``"GTV-1"``), an ``int`` an ROINumber. ``None`` selects the
        only segment / ROI and is an error when there are several.

    The mask must sit on the image's voxel grid: same size, spacing (within 1e-3 relative),
    origin (within 1e-2 mm) and direction (within 1e-3). A mask stored with the same grid but
    another axis order or sign (e.g. LAS instead of LPS, as written by NIfTI tools) is reoriented
    losslessly first. The returned mask carries the reference's exact geometry, so PyRadiomics
    never needs to resample it.

    DICOM masks are converted onto the reference grid: SEG frames are placed by their
    ImagePositionPatient (orientation and pixel spacing must equal the image's, positions must fall
    on voxel centres); RTSTRUCT ``CLOSED_PLANAR`` contours are rasterised slice by slice, a voxel
    being inside when its centre is inside the polygon, with contours of one slice combined by
    the even-odd rule (an inner contour is a hole), as usual for RTSTRUCT conversion.
    When the reference image came from a DICOM series, the SEG / RTSTRUCT FrameOfReferenceUID
    must equal the series'; for a NIfTI reference only the geometry can be checked.

    Raises
    ------
    PatientInputError
        Unreadable file, unknown segment or ROI (listing those present), frame of reference or
        geometry mismatch (naming each differing property), non-integer values, or no voxel
        selected.
    """
    mask, _ = _read_mask(Path(path), reference, label, _Ctx(patient, phase))
    return mask


def _read_mask(
    path: Path, reference: sitk.Image, label: int | str | None, ctx: _Ctx
) -> tuple[sitk.Image, bool]:
    if not path.exists():
        raise ctx.error("mask not found", path)
    dicom_mask = _dicom_mask_object(path, ctx)
    if dicom_mask is not None:
        file, ds = dicom_mask
        if str(ds.SOPClassUID) == SEG_SOP_CLASS:
            binary = _seg_to_array(file, reference, label, ctx)
        else:
            binary = _rtstruct_to_array(file, ds, reference, label, ctx)
        mask = sitk.GetImageFromArray(binary.astype(np.uint8))
        mask.CopyInformation(reference)
        return mask, False
    try:
        raw = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ctx.error(f"cannot read mask: {_first_line(exc)}", path) from exc

    value, component = _segment(raw, label, ctx, path)
    if raw.GetNumberOfComponentsPerPixel() > 1:
        raw = sitk.VectorIndexSelectionCast(raw, component)
    if raw.GetDimension() != 3:
        raise ctx.error(f"expected a 3-D mask, found {raw.GetDimension()}-D", path)

    reoriented = False
    diffs = _geometry_differences(raw, reference)
    if diffs and any("direction" in d for d in diffs):
        code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
            reference.GetDirection()
        )
        candidate = sitk.DICOMOrient(raw, code)
        if not _geometry_differences(candidate, reference):
            raw, diffs, reoriented = candidate, [], True
            log.info("mask %s reoriented to %s to match the image", path, code)
    if diffs:
        raise ctx.error("mask geometry does not match the image: " + "; ".join(diffs), path)

    arr = sitk.GetArrayViewFromImage(raw)
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ctx.error(
            "mask holds non-integer values (a probability map?); threshold it to labels first", path
        )
    binary = arr > 0 if value is None else arr == value
    if not binary.any():
        present = np.unique(arr)
        what = "any label > 0" if value is None else f"label {value}"
        raise ctx.error(
            f"mask is empty (no voxel with {what}; values present: "
            f"{', '.join(str(v) for v in present[:20].tolist())})",
            path,
        )
    mask = sitk.GetImageFromArray(binary.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask, reoriented


def _segment(
    raw: sitk.Image, label: int | str | None, ctx: _Ctx, path: Path
) -> tuple[int | None, int]:
    """Label value (``None`` = any > 0) and component index selected in a (Slicer) label map."""
    meta = {k: raw.GetMetaData(k) for k in raw.GetMetaDataKeys() if k.startswith("Segment")}
    multi = raw.GetNumberOfComponentsPerPixel() > 1
    segments = []
    i = 0
    while f"Segment{i}_ID" in meta or f"Segment{i}_Name" in meta:
        segments.append(
            {
                "name": meta.get(f"Segment{i}_Name", ""),
                "id": meta.get(f"Segment{i}_ID", ""),
                "value": int(meta.get(f"Segment{i}_LabelValue", 1)),
                # Old Slicer files (no LabelValue/Layer) store one segment per component.
                "layer": int(meta.get(f"Segment{i}_Layer", i if multi else 0)),
            }
        )
        i += 1

    if isinstance(label, str):
        found = [s for s in segments if label in (s["name"], s["id"])]
        if not found:
            names = ", ".join(s["name"] or s["id"] for s in segments) or "none (not a Slicer file)"
            raise ctx.error(f"segment {label!r} not found; segments: {names}", path)
        return found[0]["value"], found[0]["layer"]
    if label is None:
        if segments:
            return segments[0]["value"], segments[0]["layer"]
        if raw.GetNumberOfComponentsPerPixel() > 1:
            raise ctx.error("mask has several components and no segment metadata", path)
        return None, 0
    label = int(label)
    layers = [s["layer"] for s in segments if s["value"] == label]
    if raw.GetNumberOfComponentsPerPixel() > 1 and not layers:
        raise ctx.error(f"no segment with label value {label} in the multi-layer mask", path)
    return label, layers[0] if layers else 0


# ------------------------------------------------------------------------- DICOM-SEG / RTSTRUCT


def _dicom_mask_object(path: Path, ctx: _Ctx) -> tuple[Path, Dataset] | None:
    """The SEG / RTSTRUCT object at ``path`` (a file, or a folder holding exactly one), else None."""
    if path.is_dir():
        found = []
        for file in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
            if "".join(file.suffixes[-1:]).lower() in _NOT_DICOM_SUFFIXES:
                continue
            ds = _sop_header(file)
            if ds is not None and str(ds.get("SOPClassUID", "")) in (
                SEG_SOP_CLASS,
                RTSTRUCT_SOP_CLASS,
            ):
                found.append((file, ds))
        if len(found) != 1:
            raise ctx.error(
                f"a mask folder must hold exactly one DICOM-SEG or RTSTRUCT object, found "
                f"{len(found)}" + (f": {', '.join(f.name for f, _ in found[:5])}" if found else ""),
                path,
            )
        return found[0]
    if path.name.lower().endswith(tuple(suffix for suffix, _ in _VOLUME_FORMATS)):
        return None
    ds = _sop_header(path)
    if ds is not None and str(ds.get("SOPClassUID", "")) in (SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS):
        return path, ds
    return None


def _sop_header(file: Path) -> Dataset | None:
    try:
        return pydicom.dcmread(file, stop_before_pixels=True)
    except Exception:  # not DICOM (or damaged): let the volume reader report it
        return None


def _check_frame_of_reference(uid: str, reference: sitk.Image, what: str, ctx: _Ctx, path):
    """A SEG / RTSTRUCT must live in the frame of reference of the (DICOM) image it annotates."""
    if not reference.HasMetaDataKey(FRAME_OF_REFERENCE_KEY):
        log.info("%s: image has no FrameOfReferenceUID (not DICOM); checking geometry only", path)
        return
    image_uid = reference.GetMetaData(FRAME_OF_REFERENCE_KEY).strip()
    if uid.strip() != image_uid:
        # The UIDs themselves stay out of the message (logs, excluded.tsv): they identify.
        raise ctx.error(
            f"{what} FrameOfReferenceUID {'differs from' if uid.strip() else 'is missing, unlike'}"
            " the image's: the mask was drawn on another scan or registration",
            path,
        )


def _physical_to_index(reference: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Continuous (x, y, z) voxel indices of LPS points (n, 3) on the reference grid."""
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    scale = direction * np.array(reference.GetSpacing())  # columns = index axes in mm
    return (points - np.array(reference.GetOrigin())) @ np.linalg.inv(scale).T


def _seg_to_array(path: Path, reference: sitk.Image, label: int | str | None, ctx: _Ctx):
    """Binary (z, y, x) array of one DICOM-SEG segment on the reference grid."""
    try:
        from highdicom.seg import segread
    except ImportError as exc:  # optional dependency (extra "imaging")
        raise ctx.error("reading DICOM-SEG needs highdicom (pip install highdicom)", path) from exc
    try:
        seg = segread(path)
    except Exception as exc:
        raise ctx.error(f"unreadable DICOM-SEG: {_first_line(exc)}", path) from exc
    _check_frame_of_reference(str(seg.get("FrameOfReferenceUID", "")), reference, "SEG", ctx, path)

    segments = {
        int(n): str(seg.get_segment_description(n).segment_label) for n in seg.get_segment_numbers()
    }
    listing = ", ".join(f"{n} {name!r}" for n, name in segments.items())
    if label is None:
        if len(segments) != 1:
            raise ctx.error(f"SEG holds {len(segments)} segments; choose one: {listing}", path)
        number = next(iter(segments))
    elif isinstance(label, str):
        numbers = [n for n, name in segments.items() if name == label]
        if not numbers:
            raise ctx.error(f"segment {label!r} not found in the SEG; segments: {listing}", path)
        number = numbers[0]
    else:
        number = int(label)
        if number not in segments:
            raise ctx.error(
                f"segment number {number} not found in the SEG; segments: {listing}", path
            )

    shared = seg.SharedFunctionalGroupsSequence[0]
    per_frame = seg.PerFrameFunctionalGroupsSequence
    labelmap = str(seg.get("SegmentationType", "")) == "LABELMAP"
    fractional = str(seg.get("SegmentationType", "")) == "FRACTIONAL"
    pixels = seg.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[None]

    def item(frame, name):  # functional group from the frame, else the shared one
        group = frame.get(name) or shared.get(name)
        if not group:
            raise ctx.error(f"SEG frame lacks {name}; cannot place it on the image", path)
        return group[0]

    size = np.array(reference.GetSize())
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    out = np.zeros(size[::-1], dtype=bool)
    rows, cols = int(seg.Rows), int(seg.Columns)
    for i, frame in enumerate(per_frame):
        if not labelmap:
            ident = frame.get("SegmentIdentificationSequence")
            if not ident or int(ident[0].ReferencedSegmentNumber) != number:
                continue
        iop = _floats(item(frame, "PlaneOrientationSequence").ImageOrientationPatient, 6)
        spacing = _floats(item(frame, "PixelMeasuresSequence").PixelSpacing, 2)  # (row, column)
        if not (
            np.allclose(iop[:3], direction[:, 0], atol=DIRECTION_ATOL)
            and np.allclose(iop[3:], direction[:, 1], atol=DIRECTION_ATOL)
        ):
            raise ctx.error(
                f"SEG frame orientation {np.round(iop, 4).tolist()} differs from the image's", path
            )
        if not np.allclose(spacing[::-1], reference.GetSpacing()[:2], rtol=SPACING_RTOL):
            raise ctx.error(
                f"SEG pixel spacing {spacing.tolist()} mm differs from the image's "
                f"{list(reference.GetSpacing()[:2])} mm",
                path,
            )
        position = _floats(item(frame, "PlanePositionSequence").ImagePositionPatient, 3)
        index = _physical_to_index(reference, position[None])[0]
        corner = np.round(index).astype(int)
        if np.abs(index - corner).max() > GRID_ATOL_VOXELS:
            raise ctx.error(
                f"SEG frame {i + 1} at {np.round(position, 3).tolist()} mm is not on the image's "
                "voxel grid",
                path,
            )
        x0, y0, z = corner
        if not (
            0 <= z < size[2]
            and 0 <= x0
            and 0 <= y0
            and x0 + cols <= size[0]
            and y0 + rows <= size[1]
        ):
            raise ctx.error(f"SEG frame {i + 1} lies (partly) outside the image", path)
        frame_pixels = pixels[i]
        if labelmap:
            hit = frame_pixels == number
        elif fractional:
            hit = frame_pixels >= 0.5 * float(seg.MaximumFractionalValue)
        else:
            hit = frame_pixels > 0
        out[z, y0 : y0 + rows, x0 : x0 + cols] |= hit
    if not out.any():
        raise ctx.error(f"SEG segment {number} {segments[number]!r} is empty on this image", path)
    return out


def _rtstruct_to_array(
    path: Path, ds: Dataset, reference: sitk.Image, label: int | str | None, ctx: _Ctx
) -> np.ndarray:
    """Binary (z, y, x) array of one RTSTRUCT ROI rasterised on the reference grid.

    A small hand-written rasteriser (matplotlib's point-in-polygon test at voxel centres) instead
    of rt-utils, which would pull in OpenCV.
    """
    from matplotlib.path import Path as Polygon

    try:
        ds = pydicom.dcmread(path)
        rois = {int(r.ROINumber): r for r in ds.StructureSetROISequence}
    except Exception as exc:
        raise ctx.error(f"unreadable RTSTRUCT: {_first_line(exc)}", path) from exc
    listing = ", ".join(repr(str(r.ROIName)) for r in rois.values()) or "none"
    if label is None:
        if len(rois) != 1:
            raise ctx.error(f"RTSTRUCT holds {len(rois)} ROIs; choose one by name: {listing}", path)
        number = next(iter(rois))
    elif isinstance(label, str):
        numbers = [n for n, r in rois.items() if str(r.ROIName) == label]
        if not numbers:
            raise ctx.error(f"ROI {label!r} not found in the RTSTRUCT; ROIs: {listing}", path)
        number = numbers[0]
    else:
        number = int(label)
        if number not in rois:
            raise ctx.error(f"ROI number {number} not found in the RTSTRUCT; ROIs: {listing}", path)
    name = str(rois[number].ROIName)

    uid = str(rois[number].get("ReferencedFrameOfReferenceUID", ""))
    if not uid and "ReferencedFrameOfReferenceSequence" in ds:
        uid = str(ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID)
    _check_frame_of_reference(uid, reference, f"RTSTRUCT ROI {name!r}", ctx, path)

    contours = [
        c
        for rc in ds.get("ROIContourSequence", [])
        if int(rc.ReferencedROINumber) == number
        for c in rc.get("ContourSequence", [])
        if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) == "CLOSED_PLANAR"
    ]
    size = np.array(reference.GetSize())
    out = np.zeros(size[::-1], dtype=bool)
    for contour in contours:
        points = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
        if len(points) < 3:
            continue
        index = _physical_to_index(reference, points)
        z = np.round(index[:, 2])
        if np.abs(index[:, 2] - z).max() > GRID_ATOL_VOXELS or np.ptp(z) > 0:
            raise ctx.error(
                f"ROI {name!r}: a contour at z = {points[0, 2]:.3f} mm is not on an image slice",
                path,
            )
        k = int(z[0])
        if not 0 <= k < size[2]:
            raise ctx.error(
                f"ROI {name!r}: a contour at z = {points[0, 2]:.3f} mm lies outside the image",
                path,
            )
        polygon = Polygon(index[:, :2])
        lo = np.clip(np.floor(index[:, :2].min(axis=0)).astype(int), 0, size[:2] - 1)
        hi = np.clip(np.ceil(index[:, :2].max(axis=0)).astype(int), 0, size[:2] - 1)
        xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
        inside = polygon.contains_points(np.column_stack([xs.ravel(), ys.ravel()]))
        # Even-odd rule: a contour inside another one of the same slice is a hole.
        out[k, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] ^= inside.reshape(xs.shape)
    if not out.any():
        raise ctx.error(
            f"ROI {name!r} has no closed planar contour covering a voxel centre of the image", path
        )
    return out


def _geometry_differences(mask: sitk.Image, ref: sitk.Image) -> list[str]:
    def fmt(values) -> str:
        return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"

    diffs = []
    if mask.GetSize() != ref.GetSize():
        diffs.append(f"size {mask.GetSize()} vs image {ref.GetSize()}")
    m_sp, r_sp = np.array(mask.GetSpacing()), np.array(ref.GetSpacing())
    if not np.allclose(m_sp, r_sp, rtol=SPACING_RTOL, atol=0):
        diffs.append(f"spacing {fmt(m_sp)} vs image {fmt(r_sp)} mm")
    m_o, r_o = np.array(mask.GetOrigin()), np.array(ref.GetOrigin())
    if np.abs(m_o - r_o).max() > ORIGIN_ATOL_MM:
        diffs.append(f"origin {fmt(m_o)} vs image {fmt(r_o)} mm")
    m_d, r_d = np.array(mask.GetDirection()), np.array(ref.GetDirection())
    if m_d.shape != r_d.shape or np.abs(m_d - r_d).max() > DIRECTION_ATOL:
        diffs.append(f"direction {fmt(m_d)} vs image {fmt(r_d)}")
    return diffs


# ---------------------------------------------------------------------------------------- ingest


def ingest(
    image_path: PathType,
    mask_path: PathType,
    out_image: PathType,
    out_mask: PathType,
    *,
    patient: str,
    phase: str,
    series: str | None = None,
    label: int | str | None = None,
) -> dict:
    """Read, check and de-identify one patient's phase; write image and mask as NIfTI.

    The outputs are ``.nii.gz`` (or ``.nii``) files with every metadata entry removed before
    writing: NIfTI has no DICOM header, but ITK would otherwise copy free-text entries such as
    ``ITK_FileNotes`` into the NIfTI ``descrip`` field. Geometry (origin, spacing, direction) and
    voxel values are kept exactly.

    Returns
    -------
    dict
        A JSON-serialisable QC record: ``patient, phase, size, spacing_mm, mask_voxels,
        mask_volume_mm3, hu_mean, hu_sd`` (inside the mask), ``hu_min, hu_max`` (whole image),
        ``mask_reoriented``, ``warnings`` and ``acquisition`` (see :func:`acquisition_info`).
    """
    ctx = _Ctx(patient, phase)
    for out in (out_image, out_mask):
        if not str(out).endswith((".nii.gz", ".nii")):
            raise ValueError(f"output must be a NIfTI file (.nii.gz or .nii): {out}")

    image_path, mask_path = Path(image_path), Path(mask_path)
    image, scanned = _read_image(image_path, series, ctx)
    if scanned is not None:
        acquisition = _acquisition_from_series(scanned)
    else:
        acquisition = _acquisition_from_geometry(image_path, image.GetSize(), image.GetSpacing())
    mask, reoriented = _read_mask(mask_path, image, label, ctx)

    img = sitk.GetArrayViewFromImage(image)
    inside = img[sitk.GetArrayViewFromImage(mask).astype(bool)].astype(np.float64)
    hu_min, hu_max, hu_image_mean = float(img.min()), float(img.max()), float(img.mean())
    warnings = []
    # Soft tissue is 0-100 HU and air -1000 HU, so a volume averaging > 500 is almost surely in
    # raw stored values (rescale intercept of -1024 not applied).
    if hu_image_mean > 500:
        warnings.append(
            f"image mean {hu_image_mean:.0f} is implausible for Hounsfield units "
            "(rescale intercept not applied?)"
        )

    write_deidentified(image, out_image)
    write_deidentified(mask, out_mask)

    spacing = [float(s) for s in image.GetSpacing()]
    return {
        "patient": patient,
        "phase": phase,
        "size": [int(s) for s in image.GetSize()],
        "spacing_mm": spacing,
        "mask_voxels": int(inside.size),
        "mask_volume_mm3": float(inside.size * np.prod(spacing)),
        "hu_mean": float(inside.mean()),
        "hu_sd": float(inside.std(ddof=1)) if inside.size > 1 else 0.0,
        "hu_min": hu_min,
        "hu_max": hu_max,
        "mask_reoriented": reoriented,
        "warnings": warnings,
        "acquisition": acquisition,
    }


def write_deidentified(image: sitk.Image, path: PathType) -> None:
    """Write ``image`` as NIfTI after dropping every metadata entry (ITK would copy some)."""
    for key in image.GetMetaDataKeys():
        image.EraseMetaData(key)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
