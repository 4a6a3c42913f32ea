"""Handcrafted radiomics with PyRadiomics (van Griethuysen et al., Cancer Research 2017).

A thin layer over :class:`radiomics.featureextractor.RadiomicsFeatureExtractor` that

* reads a YAML parameter file once per process (extractors are cached by path and modification
  time; ``execute`` copies its settings, so a cached extractor is safe to reuse);
* accepts SimpleITK images (from :mod:`hccfusion.imaging`) or file paths and hands them to
  PyRadiomics unchanged, with no re-reading or copying;
* returns the features as a float :class:`pandas.Series`, optionally prefixed by phase
  (``arterial_original_firstorder_Mean``), with PyRadiomics' ``diagnostics_*`` entries kept apart;
* routes PyRadiomics' logger into Python logging at WARNING instead of its own stderr handler.

The workflow's settings live in ``resources/radiomics/prime_ct.yaml`` (see the README there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import radiomics
import SimpleITK as sitk
import yaml
from pykwalify.errors import PyKwalifyException
from radiomics.featureextractor import RadiomicsFeatureExtractor

from hccfusion.errors import PatientInputError
from hccfusion.imaging.preprocess import prepare_roi

__all__ = [
    "DEFAULT_PARAMS",
    "PARAMS_DIR",
    "extract",
    "extract_with_diagnostics",
    "load_params",
    "params_path",
    "workflow_options",
]

PathType = str | PathLike[str]

#: Parameter files shipped with the project (available in a source checkout).
PARAMS_DIR = Path(__file__).resolve().parents[2] / "resources" / "radiomics"
#: The workflow's default settings (PRIME recipes, seed paper 001).
DEFAULT_PARAMS = PARAMS_DIR / "prime_ct.yaml"

_DIAGNOSTICS = "diagnostics_"


def _route_logging() -> None:
    """Send PyRadiomics' records to Python logging (WARNING and up) instead of its stderr handler.

    PyRadiomics installs its own ``StreamHandler`` and sets its logger to INFO, which both floods
    stderr in parallel jobs and makes every INFO call format its message. Removing the handler and
    raising the level lets the application's logging configuration decide where warnings go.
    """
    logger = logging.getLogger("radiomics")
    logger.removeHandler(radiomics.handler)
    if not logger.handlers:
        # PyRadiomics passes ``handlers[0]`` to pykwalify when it validates a parameter file.
        logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.WARNING)
    logger.propagate = True
    # Logged once per image type (10x per extraction) although it is a fact about the settings,
    # not the data: SumAverage is kept (= 2 * JointAverage for a symmetric GLCM) but not announced.
    logging.getLogger("radiomics.glcm").addFilter(
        lambda record: not record.getMessage().startswith("GLCM is symmetrical")
    )


_route_logging()


def params_path(name: str) -> Path:
    """Path of a shipped parameter file by name (``"prime_ct"`` -> ``.../prime_ct.yaml``)."""
    path = PARAMS_DIR / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no parameter file {path}; available: {available}")
    return path


#: Keys of the config's ``radiomics`` section that prepare the image (see :func:`extract`).
PREPROCESSING_KEYS = ("spacing_mm", "interpolator", "normalisation", "window")


def workflow_options(cfg: Mapping) -> dict:
    """Keyword arguments of :func:`extract` for a workflow config (its ``radiomics`` and
    ``segmentation`` sections), so that the workflow's rules and ``hccfusion extract --config``
    run exactly the same extraction."""
    radiomics_cfg = cfg.get("radiomics") or {}
    return {
        "preprocessing": {k: radiomics_cfg[k] for k in PREPROCESSING_KEYS if k in radiomics_cfg},
        "per_lesion": (cfg.get("segmentation") or {}).get("components") == "per_lesion",
    }


def load_params(path: PathType) -> dict:
    """Read a PyRadiomics YAML parameter file and return it as a dict.

    The file is validated against PyRadiomics' own schema (by building an extractor from it), so
    a misspelt setting fails here rather than half-way through a cohort.

    Raises
    ------
    ValueError
        The file violates PyRadiomics' parameter schema (message names the offending key).
    """
    _extractor(*_cache_key(path))
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: a PyRadiomics parameter file must be a YAML mapping")
    return params


def extract(
    image: sitk.Image | PathType,
    mask: sitk.Image | PathType,
    params_path: PathType,
    *,
    prefix: str | None = None,
    preprocessing: Mapping | None = None,
    per_lesion: bool = False,
) -> pd.Series:
    """Compute radiomics features of one ROI with the settings of a YAML parameter file.

    Parameters
    ----------
    image, mask:
        SimpleITK images (e.g. from :func:`hccfusion.imaging.read_image` / ``read_mask``) or paths
        to files PyRadiomics can read. The mask label is taken from the parameter file (``label``).
    params_path:
        PyRadiomics YAML parameter file, e.g. ``resources/radiomics/prime_ct.yaml``.
    prefix:
        Prepended to every feature name, e.g. ``"arterial_"``, so phases can be joined into one row.
    preprocessing:
        The workflow's image preparation (config ``radiomics``: ``spacing_mm``, ``interpolator``,
        ``normalisation``, ``window``), done by :func:`hccfusion.imaging.preprocess.prepare_roi`
        instead of PyRadiomics: B-spline image and label-safe mask resampling, HU clipping or
        z-score. PyRadiomics' own ``resampledPixelSpacing`` and ``normalize`` are then overridden.
        ``None`` leaves everything to the parameter file (the IBSI configurations).
    per_lesion:
        ``mask`` is a label map 1..K of lesions (segmentation ``components: per_lesion``): features
        are extracted per lesion and averaged with weights proportional to lesion volume, and
        ``original_lesions_Count`` and ``original_lesions_TotalVolume`` (mm3) are added.

    Returns
    -------
    pandas.Series
        float64 values indexed by PyRadiomics feature name
        (``<imagetype>_<class>_<feature>``, e.g. ``wavelet-LLH_glcm_Contrast``), without the
        ``diagnostics_*`` entries (see :func:`extract_with_diagnostics`).
    """
    return extract_with_diagnostics(
        image, mask, params_path, prefix=prefix, preprocessing=preprocessing,
        per_lesion=per_lesion,
    )[0]


def extract_with_diagnostics(
    image: sitk.Image | PathType,
    mask: sitk.Image | PathType,
    params_path: PathType,
    *,
    prefix: str | None = None,
    preprocessing: Mapping | None = None,
    per_lesion: bool = False,
) -> tuple[pd.Series, dict]:
    """Like :func:`extract`, and also return PyRadiomics' ``diagnostics_*`` entries as a dict.

    The diagnostics (versions, settings, image/mask hashes, voxel counts before and after
    resampling) are provenance, not features; keys keep their ``diagnostics_`` prefix and are not
    given ``prefix``. With ``per_lesion`` they are those of the largest lesion.
    """
    overrides: dict = {}
    if preprocessing is not None or per_lesion:
        image, mask = _as_image(image), _as_image(mask)
    if preprocessing is not None:
        image, mask, overrides = _prepare(image, mask, params_path, preprocessing)
    extractor = _extractor(*_cache_key(params_path), tuple(sorted(overrides.items())))
    if not per_lesion:
        return _split(extractor.execute(_as_input(image), _as_input(mask)), prefix)
    arr = sitk.GetArrayViewFromImage(mask)
    labels, counts = np.unique(arr[arr > 0], return_counts=True)
    if labels.size == 0:
        raise PatientInputError("the lesion label map is empty")
    order = np.argsort(-counts, kind="stable")  # largest lesion first: its diagnostics are kept
    results = [_split(extractor.execute(image, mask, label=int(labels[k])), prefix) for k in order]
    # Volume-weighted mean: a feature of the tumour burden dominated by the large lesions, as a
    # single merged ROI would be, but without texture matrices spanning the liver between lesions.
    weights = counts[order].astype(float)
    table = pd.concat([features for features, _ in results], axis=1)
    combined = (table * weights).sum(axis=1) / weights.sum()
    voxel_mm3 = float(np.prod(mask.GetSpacing()))
    p = prefix or ""
    extra = pd.Series(
        [float(labels.size), float(counts.sum() * voxel_mm3)],
        index=[f"{p}original_lesions_Count", f"{p}original_lesions_TotalVolume"],
    )
    return pd.concat([combined, extra]).astype(np.float64), results[0][1]


#: Above these the parameter file is meant for Hounsfield units, not z-scores.
_HU_LIKE_BIN_WIDTH = 5.0
_HU_LIKE_RANGE = 10.0


def _prepare(image: sitk.Image, mask: sitk.Image, params_path, cfg: Mapping):
    """Apply the workflow's preparation; return the settings PyRadiomics must then not redo."""
    params = load_params(params_path)
    setting = params.get("setting") or {}
    normalisation = cfg.get("normalisation", "none")
    if normalisation in ("hu_window_zscore", "pyradiomics"):
        width = setting.get("binWidth")
        rng = setting.get("resegmentRange") or []
        if (width is not None and width > _HU_LIKE_BIN_WIDTH) or any(
            abs(v) > _HU_LIKE_RANGE for v in rng
        ):
            raise ValueError(
                f"normalisation '{normalisation}' gives z-scores, but {params_path} has "
                f"binWidth {width} and resegmentRange {rng or None}, which are Hounsfield units "
                "(a z-scored tumour would fall into one bin or be removed entirely); use a "
                "parameter file for z-scored images (e.g. binWidth 0.1 and no resegmentRange)"
            )
    spacing = cfg.get("spacing_mm")
    pad = float(setting.get("padDistance", 5))
    native = max(image.GetSpacing())
    image, mask = prepare_roi(
        image, mask, spacing_mm=spacing, interpolator=cfg.get("interpolator", "bspline"),
        normalisation=normalisation, window=tuple(cfg.get("window", (-100.0, 400.0))),
        # PyRadiomics keeps padDistance voxels (of the new grid) around the ROI for its filters;
        # two native voxels more keep the B-spline's support inside the crop.
        margin_mm=pad * (max(spacing) if spacing else native) + 2.0 * native,
    )
    # The grid is the workflow's decision now (spacing_mm None = native): PyRadiomics must not
    # resample again.
    return image, mask, {"normalize": normalisation == "pyradiomics", "resampledPixelSpacing": None}


def _split(result: Mapping, prefix: str | None) -> tuple[pd.Series, dict]:
    names, values, diagnostics = [], [], {}
    for key, value in result.items():
        if key.startswith(_DIAGNOSTICS):
            diagnostics[key] = value
        else:
            names.append(key if prefix is None else prefix + key)
            values.append(float(value))
    features = pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(names), name=None)
    return features, diagnostics


def _as_image(obj: sitk.Image | PathType) -> sitk.Image:
    return obj if isinstance(obj, sitk.Image) else sitk.ReadImage(str(obj))


def _as_input(obj: sitk.Image | PathType) -> sitk.Image | str:
    return obj if isinstance(obj, sitk.Image) else str(obj)


def _cache_key(path: PathType) -> tuple[str, float]:
    resolved = Path(path).resolve()
    return str(resolved), resolved.stat().st_mtime


@lru_cache(maxsize=8)
def _extractor(path: str, mtime: float, overrides: tuple = ()) -> RadiomicsFeatureExtractor:
    # mtime is part of the key so that an edited parameter file is re-read.
    try:
        return RadiomicsFeatureExtractor(path, **dict(overrides))
    except PyKwalifyException as exc:  # schema violation: unknown or mistyped setting
        raise ValueError(f"{path}: invalid PyRadiomics parameter file: {exc.msg}") from exc
