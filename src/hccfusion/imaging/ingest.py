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

__all__ = ["acquisition_info", "ingest", "read_image", "read_mask"]

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
        return _as_hu(image, ctx, path), scanned
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
            f"GDCM grouped the slices differently from their SeriesInstanceUID {uid!r}; "
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
    def describe(uid: str) -> str:
        desc = str(by_uid[uid][0][1].get("SeriesDescription", ""))
        return f"{uid or '<empty UID>'} ({desc or 'no description'}, {len(by_uid[uid])} slices)"

    available = "; ".join(describe(u) for u in by_uid)
    if series is None:
        if len(by_uid) == 1:
            return next(iter(by_uid))
        raise ctx.error(
            f"folder holds {len(by_uid)} DICOM series; choose one with `series` "
            f"(SeriesInstanceUID or SeriesDescription): {available}",
            folder,
        )
    if series in by_uid:
        return series
    matches = [u for u, s in by_uid.items() if str(s[0][1].get("SeriesDescription", "")) == series]
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
        NIfTI / NRRD / MHA label map, including 3D Slicer ``.seg.nrrd`` files.
    reference:
        The image the mask belongs to (from :func:`read_image`).
    label:
        ``None``: for a Slicer segmentation, the value of its first segment
        (``Segment0_LabelValue``); otherwise every voxel > 0. An ``int`` keeps that label value only
        (e.g. 5 for the liver in TotalSegmentator maps). A ``str`` names a Slicer segment.

    The mask must sit on the image's voxel grid: same size, spacing (within 1e-3 relative),
    origin (within 1e-2 mm) and direction (within 1e-3). A mask stored with the same grid but
    another axis order or sign (e.g. LAS instead of LPS, as written by NIfTI tools) is reoriented
    losslessly first. The returned mask carries the reference's exact geometry, so PyRadiomics
    never needs to resample it.

    Raises
    ------
    PatientInputError
        Unreadable file, unknown segment, non-integer values, geometry mismatch (naming each
        differing property), or no voxel selected.
    """
    mask, _ = _read_mask(Path(path), reference, label, _Ctx(patient, phase))
    return mask


def _read_mask(
    path: Path, reference: sitk.Image, label: int | str | None, ctx: _Ctx
) -> tuple[sitk.Image, bool]:
    if not path.exists():
        raise ctx.error("mask not found", path)
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

    _write_deidentified(image, out_image)
    _write_deidentified(mask, out_mask)

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


def _write_deidentified(image: sitk.Image, path: PathType) -> None:
    """Write ``image`` as NIfTI after dropping every metadata entry (ITK would copy some)."""
    for key in image.GetMetaDataKeys():
        image.EraseMetaData(key)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
