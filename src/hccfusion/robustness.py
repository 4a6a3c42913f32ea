"""Robustness of radiomic features: image perturbation and the ICC(3,1) filter.

Seed paper 001 keeps only features whose intraclass correlation between two readers exceeds 0.75.
Without a second reader the segmentation and image are perturbed as in MIRP (Zwanenburg A, Leger S,
Agolli L, et al. "Assessing robustness of radiomic features by image perturbation." Sci Rep
2019;9:614): every patient is re-extracted under a few random perturbations and each perturbation
acts as a "rater". The default plan is MIRP's *RNCV* chain (rotation, noise, volume adaptation,
contour randomisation) applied together, a handful of times per patient.

The agreement statistic is ICC(3,1), two-way mixed effects, consistency, single rater (Shrout PE,
Fleiss JL. "Intraclass correlations: uses in assessing rater reliability." Psychol Bull
1979;86:420-428; McGraw KO, Wong SP. "Forming inferences about some intraclass correlation
coefficients." Psychol Methods 1996;1:30-46), computed for all features at once.

The filter is learned from data, so :func:`robust_features` only ever looks at training patients
(DESIGN.md section 5). When the patient sheet has a second reader's masks, :func:`reader_table`
turns the two readers' feature tables into the same long table, and the same ICC is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from hccfusion.errors import PatientInputError
from hccfusion.radiomics import extract

__all__ = [
    "KINDS",
    "apply_plan",
    "estimate_noise_sd",
    "icc_3_1",
    "perturb",
    "perturbation_plan",
    "perturbed_features",
    "reader_table",
    "robust_features",
    "robustness_report",
    "signed_distance_mm",
]

log = logging.getLogger(__name__)

PathType = str | PathLike[str]

#: Perturbation kinds understood by :func:`perturb` (magnitude unit in brackets):
#: erode/dilate (mm), volume (relative volume change, MIRP's volume adaptation), rotate (degrees,
#: in the slice plane about the mask centroid), noise (multiple of the estimated noise SD),
#: contour (SD in mm of a smooth random displacement of the mask surface).
KINDS = ("erode", "dilate", "volume", "rotate", "noise", "contour")
#: Order in which the steps of one composite perturbation are applied (MIRP: image first, then
#: the mask), whatever order the plan lists them in.
_STEP_ORDER = {"rotate": 0, "noise": 1, "erode": 2, "dilate": 2, "volume": 2, "contour": 3}
#: Correlation length (Gaussian smoothing sigma, mm) of the random field of contour randomisation.
CONTOUR_CORRELATION_MM = 4.0
#: Default HU window of the voxels used to estimate the image noise (soft tissue, no air/bone).
NOISE_WINDOW_HU = (-200.0, 300.0)
#: Fill value (HU) of voxels rotated in from outside the field of view.
AIR_HU = -1024.0
#: Rater id of the unperturbed extraction in :func:`perturbed_features`.
ORIGINAL = "original"


# --------------------------------------------------------------------------------------------
# perturbations
# --------------------------------------------------------------------------------------------
def perturb(
    image: sitk.Image, mask: sitk.Image, *, kind: str, magnitude: float, seed: int
) -> tuple[sitk.Image, sitk.Image]:
    """Apply one perturbation to an image and its binary mask (MIRP, Zwanenburg et al. 2019).

    Parameters
    ----------
    image, mask:
        SimpleITK image (HU) and binary mask on the same grid (non-zero = ROI).
    kind:
        ``"erode"`` / ``"dilate"``: move the mask surface inwards / outwards by ``magnitude`` mm,
        physically (anisotropic voxels respected), by thresholding a signed distance map to the
        surface (:func:`signed_distance_mm`).
        ``"volume"``: MIRP's volume adaptation; grow (``magnitude > 0``) or shrink the mask to
        ``(1 + magnitude)`` times its volume by thresholding the same signed distance map.
        ``"rotate"``: rotate image and mask by ``magnitude`` degrees about the mask centroid, in
        the slice plane (axis = slice normal); the image is B-spline interpolated, the mask is
        linearly interpolated and thresholded at 0.5, on the original grid.
        ``"noise"``: add white Gaussian noise whose SD is ``magnitude`` times the image noise SD
        estimated by :func:`estimate_noise_sd`.
        ``"contour"``: contour randomisation; a smooth Gaussian random field (correlation length
        :data:`CONTOUR_CORRELATION_MM`, SD ``magnitude`` mm) is added to the signed distance map
        before thresholding at 0, so the surface moves by a few mm in a spatially coherent way.
        (MIRP randomises the contour with supervoxels; a smooth field gives the same kind of
        plausible inter-reader variation without an over-segmentation step.)
    magnitude:
        Size of the perturbation in the unit of the kind (see above).
    seed:
        Seed of the random parts (noise, contour field); the result is a function of the inputs.

    Returns
    -------
    (image, mask):
        The perturbed image (float32 for rotate/noise, otherwise the input object) and the
        perturbed mask (uint8, 0/1, same grid).

    Raises
    ------
    ValueError
        Unknown kind, or a perturbation that leaves the mask empty.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown perturbation kind {kind!r}; expected one of {KINDS}")
    _check_image(image, mask)
    magnitude = float(magnitude)
    if kind == "rotate":
        image, mask = _rotate(image, mask, magnitude)
    elif kind == "noise":
        image = _add_noise(image, magnitude, seed)
    else:
        mask = _adapt_mask(mask, kind, magnitude, seed)
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        raise ValueError(f"perturbation {kind}({magnitude:g}) left the mask empty")
    return image, mask


def signed_distance_mm(mask: np.ndarray, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Signed physical distance (mm) from each voxel centre to the mask surface, sub-voxel.

    Negative inside, positive outside (sign from the mask itself, so thresholding at 0 returns
    the mask). The surface is the 0.5 level set of the mask smoothed by a Gaussian of 0.5 voxel:
    its crossings of the grid lines (linear interpolation, as in marching cubes) give surface
    points, with normals from the smoothed gradient; a voxel's distance is the distance to the
    tangent plane at its nearest surface point (k-d tree). Centre-to-centre distance transforms
    are too coarse for 1 mm changes (a staircase surface over-estimates oblique distances); this
    estimate reproduces dilation/erosion of a 1 mm-grid sphere to ~1 % in volume. Far from the
    surface, where a tangent plane is meaningless, the distance to the nearest surface point
    minus half the largest voxel step is used as a lower bound.
    """
    m = np.asarray(mask, dtype=bool)
    sp = np.asarray(spacing_zyx, dtype=np.float64)
    phi = ndi.gaussian_filter(m.astype(np.float64), 0.5, mode="nearest")
    points = []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        p0, p1 = phi[tuple(lo)], phi[tuple(hi)]
        cross = (p0 - 0.5) * (p1 - 0.5) < 0
        idx = np.array(np.nonzero(cross), dtype=np.float64)
        idx[axis] += (0.5 - p0[cross]) / (p1[cross] - p0[cross])
        points.append(idx)
    pts = np.concatenate(points, axis=1)
    if pts.shape[1] == 0:  # no surface inside the array (empty or full mask)
        return np.where(m, -np.inf, np.inf)
    normals = np.stack(
        [ndi.map_coordinates(g, pts, order=1) for g in np.gradient(phi, *sp)], axis=1
    )
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    surface = pts.T * sp
    grid = np.indices(m.shape, dtype=np.float64).reshape(3, -1).T * sp
    euclid, nearest = cKDTree(surface).query(grid)
    plane = np.abs(np.einsum("ij,ij->i", grid - surface[nearest], normals[nearest]))
    # The tangent plane is only trusted near the surface; the distance to the nearest surface
    # point minus half the largest voxel step (the gap between surface points) bounds it below.
    dist = np.maximum(plane, euclid - 0.5 * sp.max())
    return np.where(m.ravel(), -dist, dist).reshape(m.shape)


def _crop(mask: sitk.Image, margin_mm: float) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The mask array and the index box (z, y, x) of its bounding box grown by ``margin_mm``."""
    arr = sitk.GetArrayFromImage(mask) != 0
    if not arr.any():
        raise ValueError("mask is empty")
    sp = np.asarray(mask.GetSpacing())[::-1]
    pad = np.ceil(margin_mm / sp).astype(int) + 1
    nz = np.nonzero(arr)
    lo = np.maximum([a.min() for a in nz] - pad, 0)
    hi = np.minimum([a.max() + 1 for a in nz] + pad, arr.shape)
    return arr, tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))


def _adapt_mask(mask: sitk.Image, kind: str, magnitude: float, seed: int) -> sitk.Image:
    sp = np.asarray(mask.GetSpacing())[::-1]
    arr = sitk.GetArrayFromImage(mask) != 0
    n0 = int(arr.sum())
    r_eq = (3.0 * n0 * np.prod(sp) / (4.0 * np.pi)) ** (1.0 / 3.0)
    if kind in ("erode", "dilate"):
        margin = abs(magnitude)
    elif kind == "volume":
        margin = r_eq * abs((1.0 + max(magnitude, -0.99)) ** (1.0 / 3.0) - 1.0)
    else:
        margin = 4.0 * abs(magnitude)
    arr, box = _crop(mask, margin + 2.0 * sp.max())
    sd = signed_distance_mm(arr[box], sp)
    if kind == "erode":
        new = sd <= -magnitude
    elif kind == "dilate":
        new = sd <= magnitude
    elif kind == "volume":
        target = int(round(n0 * (1.0 + magnitude)))
        target = min(max(target, 1), sd.size)
        # Exact volume: ties of the distance (symmetric shells) are broken by a seeded jitter.
        jitter = np.random.default_rng(seed).uniform(0.0, 1e-6, sd.shape)
        order = np.argsort((sd + jitter).ravel(), kind="stable")[:target]
        new = np.zeros(sd.size, dtype=bool)
        new[order] = True
        new = new.reshape(sd.shape)
    else:  # contour
        rng = np.random.default_rng(seed)
        field = ndi.gaussian_filter(
            rng.standard_normal(sd.shape), sigma=CONTOUR_CORRELATION_MM / sp, mode="reflect"
        )
        field *= magnitude / max(field.std(), 1e-12)
        new = (sd + field) <= 0.0
    full = np.zeros(arr.shape, dtype=np.uint8)
    full[box] = new
    out = sitk.GetImageFromArray(full)
    out.CopyInformation(mask)
    return out


def _rotate(image: sitk.Image, mask: sitk.Image, degrees: float) -> tuple[sitk.Image, sitk.Image]:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(mask != 0, sitk.sitkUInt8))
    if not stats.HasLabel(1):
        raise ValueError("mask is empty")
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    transform = sitk.VersorRigid3DTransform()
    transform.SetCenter(stats.GetCentroid(1))
    transform.SetRotation(tuple(direction[:, 2]), float(np.deg2rad(degrees)))
    fill = min(AIR_HU, float(sitk.GetArrayViewFromImage(image).min()))
    rotated = sitk.Resample(image, image, transform, sitk.sitkBSpline, fill, sitk.sitkFloat32)
    soft = sitk.Resample(
        sitk.Cast(mask != 0, sitk.sitkFloat32), mask, transform, sitk.sitkLinear, 0.0
    )
    return rotated, sitk.Cast(soft >= 0.5, sitk.sitkUInt8)


def estimate_noise_sd(image: sitk.Image, window: tuple[float, float] = NOISE_WINDOW_HU) -> float:
    """Robust estimate of the image noise SD (Donoho & Johnstone 1994 MAD rule).

    The finest in-plane diagonal Haar detail coefficient of each non-overlapping 2 x 2 block,
    ``(a - b - c + d) / 2``, has the noise SD for white noise and is ~0 in smooth regions; the
    noise SD is ``median(|detail|) / 0.6745`` over blocks whose four voxels lie inside ``window``
    (soft tissue, so that clipped air and bone do not pull the median to 0). This is the wavelet
    estimator MIRP uses (Chang, Yu & Vetterli, IEEE Trans Image Process 2000).
    """
    arr = sitk.GetArrayFromImage(image).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    ny, nx = (arr.shape[1] // 2) * 2, (arr.shape[2] // 2) * 2
    a, b = arr[:, 0:ny:2, 0:nx:2], arr[:, 0:ny:2, 1:nx:2]
    c, d = arr[:, 1:ny:2, 0:nx:2], arr[:, 1:ny:2, 1:nx:2]
    detail = (a - b - c + d) / 2.0
    lo, hi = window
    ok = np.ones(detail.shape, dtype=bool)
    for v in (a, b, c, d):
        ok &= (v >= lo) & (v <= hi)
    values = detail[ok] if ok.sum() >= 100 else detail.ravel()
    return float(np.median(np.abs(values)) / 0.6745)


def _add_noise(image: sitk.Image, scale: float, seed: int) -> sitk.Image:
    sd = scale * estimate_noise_sd(image)
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0.0, sd, arr.shape).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def perturbation_plan(
    n: int = 5,
    seed: int = 0,
    *,
    kinds: Sequence[str] = ("rotate", "noise", "volume", "contour"),
    rotation_deg: float = 10.0,
    noise_scale: float = 1.0,
    volume_fraction: float = 0.15,
    contour_mm: float = 1.0,
    erode_mm: float = 1.0,
    dilate_mm: float = 1.0,
) -> list[dict]:
    """A list of ``n`` composite perturbations (default: MIRP's RNCV chain).

    Every entry is ``{"id": "p01", "seed": int, "steps": [{"kind": ..., "magnitude": ...}, ...]}``
    with one step per kind in ``kinds``: rotation angle uniform in ``[-rotation_deg,
    rotation_deg]``, noise of ``noise_scale`` times the estimated noise SD, relative volume change
    uniform in ``[-volume_fraction, volume_fraction]``, contour randomisation with ``contour_mm``
    SD, and fixed erosion / dilation by ``erode_mm`` / ``dilate_mm``. The same ``(n, seed)`` gives
    the same plan; a plan is plain data, so it can live in the config and the run log.
    """
    if n < 1:
        raise ValueError("a perturbation plan needs at least one perturbation")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown perturbation kinds {sorted(unknown)}; expected {KINDS}")
    rng = np.random.default_rng(seed)
    plan = []
    for i in range(n):
        steps = []
        for kind in kinds:
            if kind == "rotate":
                mag = rng.uniform(-rotation_deg, rotation_deg)
            elif kind == "volume":
                mag = rng.uniform(-volume_fraction, volume_fraction)
            else:
                mag = {"noise": noise_scale, "contour": contour_mm, "erode": erode_mm,
                       "dilate": dilate_mm}[kind]
            steps.append({"kind": kind, "magnitude": round(float(mag), 4)})
        plan.append({"id": f"p{i + 1:02d}", "seed": int(rng.integers(2**31 - 1)), "steps": steps})
    return plan


def apply_plan(
    image: sitk.Image, mask: sitk.Image, entry: Mapping
) -> tuple[sitk.Image, sitk.Image]:
    """Apply one composite plan entry (its steps in MIRP order: rotate, noise, mask changes)."""
    seeds = np.random.SeedSequence(int(entry["seed"])).generate_state(len(entry["steps"]))
    order = sorted(range(len(entry["steps"])), key=lambda i: _STEP_ORDER[entry["steps"][i]["kind"]])
    for i in order:
        step = entry["steps"][i]
        image, mask = perturb(
            image, mask, kind=step["kind"], magnitude=step["magnitude"], seed=int(seeds[i])
        )
    return image, mask


def perturbed_features(
    image: sitk.Image,
    mask: sitk.Image,
    params_path: PathType,
    plan: Sequence[Mapping],
    *,
    prefix: str | None = None,
    original: pd.Series | None = None,
    preprocessing: Mapping | None = None,
    per_lesion: bool = False,
) -> pd.DataFrame:
    """Radiomics of the original ROI and of every perturbation of a plan.

    ``original`` takes the already extracted features of the unperturbed ROI (the workflow's
    radiomics row, same parameters), so they are not computed twice. ``preprocessing`` and
    ``per_lesion`` are passed to :func:`hccfusion.radiomics.extract`; the perturbations act on
    the union of the lesions, which are then relabelled as connected components.

    Returns a DataFrame indexed by ``rater`` (``"original"``, then the plan ids) with the feature
    columns of :func:`hccfusion.radiomics.extract`. A perturbation that fails (e.g. an erosion
    that empties a tiny mask) gives a row of NaN and a warning; the ICC then ignores that patient
    for the affected features. Concatenate patients with ``pd.concat(frames,
    names=["patient_id"])`` to get the table :func:`icc_3_1` reads.
    """
    options = {"prefix": prefix, "preprocessing": preprocessing, "per_lesion": per_lesion}
    if original is None:
        original = extract(image, mask, params_path, **options)
    rows = {ORIGINAL: original.astype(float)}
    binary = sitk.Cast(mask > 0, sitk.sitkUInt8) if per_lesion else mask
    for entry in plan:
        try:
            p_image, p_mask = apply_plan(image, binary, entry)
            if per_lesion:
                p_mask = sitk.RelabelComponent(
                    sitk.ConnectedComponent(p_mask, True), sortByObjectSize=True
                )
            rows[entry["id"]] = extract(p_image, p_mask, params_path, **options)
        except (ValueError, RuntimeError) as exc:
            log.warning("perturbation %s failed: %s", entry["id"], exc)
            rows[entry["id"]] = pd.Series(np.nan, index=rows[ORIGINAL].index)
    frame = pd.DataFrame(rows).T
    frame.index.name = "rater"
    return frame


# --------------------------------------------------------------------------------------------
# ICC(3,1)
# --------------------------------------------------------------------------------------------
def _to_cube(table: pd.DataFrame) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """(patients x raters x features) float array from a long or wide table."""
    frame = table
    if isinstance(frame.index, pd.MultiIndex) or frame.index.name in ("patient_id", "rater"):
        frame = frame.reset_index()
    missing = {"patient_id", "rater"} - set(frame.columns)
    if missing:
        raise ValueError(f"ICC table needs columns patient_id and rater (missing {missing})")
    if {"feature", "value"} <= set(frame.columns):
        frame = frame.pivot_table(
            index=["patient_id", "rater"], columns="feature", values="value", aggfunc="first",
            dropna=False,
        ).reset_index()
    features = pd.Index([c for c in frame.columns if c not in ("patient_id", "rater")])
    if frame.duplicated(["patient_id", "rater"]).any():
        raise ValueError("ICC table has more than one row per (patient_id, rater)")
    patients = pd.Index(pd.unique(frame["patient_id"]))
    raters = pd.Index(pd.unique(frame["rater"]))
    full = pd.MultiIndex.from_product([patients, raters], names=["patient_id", "rater"])
    values = frame.set_index(["patient_id", "rater"])[list(features)].reindex(full)
    cube = values.to_numpy(dtype=np.float64).reshape(len(patients), len(raters), len(features))
    return cube, features, patients


def _icc_complete(y: np.ndarray) -> np.ndarray:
    """ICC(3,1) of a complete (n x k x f) array, vectorised over the last axis."""
    n, k, _ = y.shape
    y = y - y.mean(axis=(0, 1), keepdims=True)  # centring per feature: numerically stable
    row = y.mean(axis=1)
    col = y.mean(axis=0)
    ss_total = np.sum(y**2, axis=(0, 1))
    ss_rows = k * np.sum(row**2, axis=0)
    ss_cols = n * np.sum(col**2, axis=0)
    ms_rows = ss_rows / (n - 1)
    ms_err = np.maximum(ss_total - ss_rows - ss_cols, 0.0) / ((n - 1) * (k - 1))
    denom = ms_rows + (k - 1) * ms_err
    scale = np.maximum(ss_total, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        icc = (ms_rows - ms_err) / denom
    # Undefined when there is no variance at all (constant feature), up to rounding.
    icc[denom * (n - 1) * k <= 1e-12 * scale] = np.nan
    icc[ss_total == 0] = np.nan
    return icc


def icc_3_1(table: pd.DataFrame) -> pd.Series:
    """ICC(3,1) per feature: two-way mixed effects, consistency, single rater.

    ``ICC(3,1) = (MS_R - MS_E) / (MS_R + (k - 1) MS_E)`` with ``MS_R`` the between-target (patient)
    and ``MS_E`` the residual mean square of the two-way ANOVA without replication (Shrout & Fleiss
    1979, case 3; McGraw & Wong 1996, ICC(C,1)); ``pingouin.intraclass_corr``'s ``ICC3``.

    Parameters
    ----------
    table:
        Either long, with columns ``patient_id, rater, feature, value``; or wide, with columns
        ``patient_id, rater`` and one column per feature (a ``(patient_id, rater)`` index is
        accepted too, as produced by concatenating :func:`perturbed_features` frames). Raters are
        perturbation ids or readers.

    Returns
    -------
    pandas.Series
        ICC per feature (float; may be negative). NaN when undefined: a feature that is constant
        over the used patients and raters, or with fewer than 2 complete patients. A patient
        missing a value of a feature for any rater is left out for that feature only.

    All features without missing values are computed in one vectorised pass.
    """
    cube, features, _ = _to_cube(table)
    n, k, f = cube.shape
    out = np.full(f, np.nan)
    if k < 2:
        raise ValueError("ICC needs at least two raters")
    complete = ~np.isnan(cube)
    patient_ok = complete.all(axis=1)  # (n, f)
    full = patient_ok.all(axis=0)
    if n >= 2 and full.any():
        out[full] = _icc_complete(cube[:, :, full])
    for j in np.flatnonzero(~full):
        rows = patient_ok[:, j]
        if rows.sum() >= 2:
            out[j] = _icc_complete(cube[rows][:, :, [j]])[0]
    return pd.Series(out, index=features, name="icc_3_1")


def robustness_report(
    table: pd.DataFrame, train_ids: Iterable[str], threshold: float = 0.75
) -> pd.DataFrame:
    """ICC(3,1) of every feature on TRAINING patients only, with the keep/drop decision.

    Returns a DataFrame indexed by feature with ``icc``, ``kept`` (``icc > threshold``) and
    ``reason`` (empty when kept). Rows of other patients are discarded before anything is
    computed, so their values cannot influence the result (DESIGN.md section 5).
    """
    frame = table.reset_index() if "patient_id" not in table.columns else table
    train = pd.Index(pd.unique(pd.Index(list(train_ids)).astype(str)))
    ids = frame["patient_id"].astype(str)
    sub = frame[ids.isin(train)]
    if sub["patient_id"].nunique() < 2:
        raise ValueError("the ICC filter needs at least two training patients in the table")
    icc = icc_3_1(sub)
    cube, features, _ = _to_cube(sub)
    with np.errstate(invalid="ignore"):
        constant = np.nanmax(cube, axis=(0, 1)) == np.nanmin(cube, axis=(0, 1))
    constant = pd.Series(constant, index=features)
    kept = icc > threshold
    reason = pd.Series("", index=features, dtype=object)
    reason[~kept] = [f"ICC(3,1) = {v:.3f} <= {threshold:g}" for v in icc[~kept]]
    undefined = icc.isna()
    reason[undefined & constant] = "constant on training patients (ICC undefined)"
    reason[undefined & ~constant] = "ICC undefined (fewer than 2 complete training patients)"
    return pd.DataFrame({"icc": icc, "kept": kept, "reason": reason})


def robust_features(
    table: pd.DataFrame, train_ids: Iterable[str], threshold: float = 0.75
) -> list[str]:
    """Names of the features with ICC(3,1) > ``threshold`` on TRAINING patients (seed 001: 0.75).

    See :func:`robustness_report` for the ICC values and the reason each dropped feature was
    dropped; only rows whose ``patient_id`` is in ``train_ids`` are used.
    """
    report = robustness_report(table, train_ids, threshold)
    return report.index[report["kept"]].tolist()


def reader_table(
    features_r1: pd.DataFrame,
    features_r2: pd.DataFrame,
    *,
    raters: tuple[str, str] = ("reader1", "reader2"),
) -> pd.DataFrame:
    """Wide ICC table (``patient_id, rater, features...``) from two readers' feature tables.

    Each input is indexed by patient id (or has a ``patient_id`` column) with one column per
    feature. Only patients and features present for both readers are kept.
    """
    frames = []
    for frame in (features_r1, features_r2):
        if "patient_id" in frame.columns:
            frame = frame.set_index("patient_id")
        frame = frame.copy()
        frame.index = frame.index.astype(str)
        frames.append(frame)
    patients = frames[0].index.intersection(frames[1].index)
    features = frames[0].columns.intersection(frames[1].columns)
    if len(patients) == 0:
        raise ValueError("the two readers' tables have no patient in common")
    parts = []
    for rater, frame in zip(raters, frames, strict=True):
        part = frame.loc[patients, features].reset_index(names="patient_id")
        part.insert(1, "rater", rater)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def second_reader_features(
    image: sitk.Image,
    reader2_mask: PathType,
    params_path: PathType,
    *,
    original: pd.Series,
    patient: str,
    phase: str,
    components: str = "merged",
    min_voxels: int = 20,
    prefix: str | None = None,
    preprocessing: Mapping | None = None,
) -> pd.DataFrame:
    """Inter-observer table of one scan: the first reader's features and the second reader's.

    The second reader's mask is read and checked exactly like the first's
    (:func:`hccfusion.imaging.ingest.read_mask`, then
    :func:`hccfusion.imaging.preprocess.check_mask` with the same components policy and minimum
    size) and its features extracted with the same settings. Returns the two-row table
    (``rater`` = ``original``, ``reader2``) that :func:`icc_3_1` reads, like
    :func:`perturbed_features`. A bad mask raises
    :class:`~hccfusion.errors.PatientInputError` naming patient, phase and file.
    """
    from hccfusion.imaging.ingest import read_mask
    from hccfusion.imaging.preprocess import check_mask

    mask = read_mask(reader2_mask, image, patient=patient, phase=phase)
    mask, _ = check_mask(mask, image, min_voxels=min_voxels, components=components,
                         patient=patient, phase=phase, path=reader2_mask)
    second = extract(image, mask, params_path, prefix=prefix, preprocessing=preprocessing,
                     per_lesion=components == "per_lesion")
    frame = pd.DataFrame({ORIGINAL: original.astype(float), "reader2": second}).T
    frame.index.name = "rater"
    return frame


def _check_image(image: sitk.Image, mask: sitk.Image) -> None:
    if image.GetSize() != mask.GetSize():
        raise PatientInputError(
            f"image size {image.GetSize()} and mask size {mask.GetSize()} differ"
        )
