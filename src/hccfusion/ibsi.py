"""IBSI conformance: compare our radiomics features with the IBSI-1 consensus reference values.

The Image Biomarker Standardisation Initiative (IBSI; Zwanenburg et al., Radiology 2020,
doi:10.1148/radiol.2020191145) published consensus values, each with a tolerance, for ~170 features
on a digital phantom and on a CT phantom under five processing configurations (A-E). Checking our
extraction path (``hccfusion extract``: ingest's readers, then PyRadiomics with a parameter file)
against them shows which of our features mean what the IBSI definitions say, and guards against
silent changes of that path.

* :func:`load_reference` reads a reference file (``reference value;tolerance;tag``, one IBSI
  feature tag per row, as distributed with MIRP).
* :func:`load_mapping` reads ``resources/radiomics/ibsi_mapping.tsv``: PyRadiomics feature name ->
  IBSI tag with the same aggregation (PyRadiomics builds one texture matrix per direction over the
  whole ROI and averages the features over directions, i.e. IBSI ``*_3D_avg`` for GLCM / GLRLM;
  GLSZM, GLDM (= NGLDM, alpha 0) and NGTDM use one 3-D matrix, IBSI ``*_3D``). With
  ``force2D`` (IBSI configurations A and B) the matrices are in-plane but merged over slices:
  IBSI ``*_2_5D_avg`` / ``*_2_5D``.
* :func:`compare` lines features up with the reference values and marks each match.

``resources/radiomics/IBSI.md`` lists the features that match and why the others deviate.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

__all__ = [
    "MAPPING_PATH",
    "SIGNIFICANT_DIGITS",
    "compare",
    "load_mapping",
    "load_reference",
    "resample_ibsi",
]

PathType = str | PathLike[str]

#: Our feature name -> IBSI tag table (3-D tags; see :func:`load_mapping`).
MAPPING_PATH = Path(__file__).resolve().parents[2] / "resources" / "radiomics" / "ibsi_mapping.tsv"
#: IBSI reference values are published to 3 significant digits.
SIGNIFICANT_DIGITS = 3

_AGGREGATIONS = ("3D", "2.5D")


def load_reference(path: PathType) -> pd.DataFrame:
    """Read an IBSI-1 reference-value file.

    The file is ``;``-separated with the header ``reference value;tolerance;tag`` (one row per
    feature tag, e.g. ``556;4;morph_volume``). Tags without a consensus value (empty fields) are
    dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``tag`` (str), ``value`` and ``tolerance`` (float), in file order.
    """
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    expected = {"reference value", "tolerance", "tag"}
    if not expected <= set(raw.columns):
        raise ValueError(f"{path}: expected columns {sorted(expected)}, found {list(raw.columns)}")
    frame = pd.DataFrame(
        {
            "tag": raw["tag"].str.strip(),
            "value": pd.to_numeric(raw["reference value"].str.strip(), errors="coerce"),
            "tolerance": pd.to_numeric(raw["tolerance"].str.strip(), errors="coerce"),
        }
    )
    frame = frame.dropna(subset=["value", "tolerance"]).reset_index(drop=True)
    if frame["tag"].duplicated().any():
        raise ValueError(
            f"{path}: duplicated tags {frame['tag'][frame['tag'].duplicated()].tolist()}"
        )
    return frame


def load_mapping(path: PathType | None = None, *, aggregation: str = "3D") -> pd.DataFrame:
    """Read the PyRadiomics -> IBSI feature mapping.

    Parameters
    ----------
    path:
        A TSV with columns ``feature, tag, note`` (default: ``resources/radiomics/ibsi_mapping.tsv``).
        Tags of texture features are written for 3-D extraction (``cm_*_3D_avg``, ``szm_*_3D``).
    aggregation:
        ``"3D"`` (default, ``force2D: false``) or ``"2.5D"`` for ``force2D: true``: PyRadiomics
        then builds in-plane matrices per direction merged over all slices, which IBSI calls 2.5D
        (``cm_*_2_5D_avg``, ``szm_*_2_5D``); morphology and first-order tags are unchanged.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``tag``, ``note`` (empty string when there is none).
    """
    if aggregation not in _AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}")
    mapping = pd.read_csv(
        MAPPING_PATH if path is None else path, sep="\t", dtype=str, keep_default_na=False
    )
    missing = {"feature", "tag", "note"} - set(mapping.columns)
    if missing:
        raise ValueError(f"mapping lacks columns {sorted(missing)}")
    if mapping["feature"].duplicated().any():
        raise ValueError(
            f"duplicated features: {mapping['feature'][mapping['feature'].duplicated()]}"
        )
    if aggregation == "2.5D":
        mapping["tag"] = mapping["tag"].str.replace(r"_3D(?=_avg$|$)", "_2_5D", regex=True)
    return mapping[["feature", "tag", "note"]]


def _round_sig(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def compare(features: pd.Series, reference: pd.DataFrame, mapping: pd.DataFrame) -> pd.DataFrame:
    """Line up computed features with IBSI reference values.

    Only features that are in ``features``, in ``mapping`` and have a reference value are
    compared.

    A feature *matches* when ``|value - reference| <= tolerance`` (the IBSI criterion), or when
    value and reference agree after rounding both to 3 significant digits: IBSI publishes its
    values to 3 significant digits, many with tolerance 0 (digital phantom), so a value of
    0.50325 for a published 0.503 is a match. NaN values never match.

    Parameters
    ----------
    features:
        Feature values indexed by PyRadiomics name (``original_glcm_Contrast``), e.g. the
        ``value`` column of ``hccfusion extract``'s output.
    reference:
        From :func:`load_reference`.
    mapping:
        From :func:`load_mapping`.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature, tag, value, reference, tolerance, match`` (``match`` bool), in mapping
        order.
    """
    ref = reference.set_index("tag")
    rows = []
    for feature, tag in zip(mapping["feature"], mapping["tag"], strict=True):
        if feature not in features.index or tag not in ref.index:
            continue
        value = float(features[feature])
        expected = float(ref.at[tag, "value"])
        tolerance = float(ref.at[tag, "tolerance"])
        match = bool(
            np.isfinite(value)
            and (abs(value - expected) <= tolerance or _round_sig(value) == _round_sig(expected))
        )
        rows.append((feature, tag, value, expected, tolerance, match))
    return pd.DataFrame(
        rows, columns=["feature", "tag", "value", "reference", "tolerance", "match"]
    ).astype({"match": bool})


def resample_ibsi(
    image: sitk.Image,
    mask: sitk.Image,
    spacing: tuple[float, float, float],
    *,
    interpolator: int = sitk.sitkLinear,
    round_intensities: bool = True,
) -> tuple[sitk.Image, sitk.Image]:
    """Interpolate image and mask to ``spacing`` the way the IBSI reference manual prescribes.

    IBSI (Zwanenburg et al., Radiology 2020; reference manual section 2.4) aligns the centres of
    the original and the interpolated grid, uses ``ceil(n * s / s_new)`` voxels per axis, rounds
    interpolated CT intensities to integer HU, and interpolates the mask with the same (linear)
    interpolator followed by a partial-volume threshold of 0.5. PyRadiomics' own resampling
    (``resampledPixelSpacing``) instead aligns the grid to the ROI bounding box, does not round
    and resamples the mask with nearest neighbour, which is why the CT-phantom configurations
    B-D deviate (see ``resources/radiomics/IBSI.md``). This function exists to show that; the
    workflow itself uses PyRadiomics' resampling.

    ``spacing`` entries of 0 keep the original spacing of that axis (as in PyRadiomics), e.g.
    ``(2, 2, 0)`` for IBSI configuration B. Returns the float32 image and the uint8 mask.
    """
    size = np.array(image.GetSize())
    old = np.array(image.GetSpacing())
    new = np.where(np.asarray(spacing, float) > 0, np.asarray(spacing, float), old)
    new_size = np.ceil(size * old / new - 1e-6).astype(int)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    # Shift (along the image axes) that puts the new grid's centre on the old grid's centre.
    shift = old * (size - 1) / 2 - new * (new_size - 1) / 2
    grid = sitk.Image([int(n) for n in new_size], sitk.sitkFloat32)
    grid.SetSpacing(new.tolist())
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin((np.array(image.GetOrigin()) + direction @ shift).tolist())

    identity = sitk.Transform()
    out = sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid, identity, interpolator, -1000.0)
    if round_intensities:
        out = sitk.Round(out)
    fraction = sitk.Resample(
        sitk.Cast(mask > 0, sitk.sitkFloat32), grid, identity, interpolator, 0.0
    )
    return out, sitk.Cast(fraction >= 0.5, sitk.sitkUInt8)
