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

__all__ = [
    "DEFAULT_PARAMS",
    "PARAMS_DIR",
    "extract",
    "extract_with_diagnostics",
    "load_params",
    "params_path",
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

    Returns
    -------
    pandas.Series
        float64 values indexed by PyRadiomics feature name
        (``<imagetype>_<class>_<feature>``, e.g. ``wavelet-LLH_glcm_Contrast``), without the
        ``diagnostics_*`` entries (see :func:`extract_with_diagnostics`).
    """
    return extract_with_diagnostics(image, mask, params_path, prefix=prefix)[0]


def extract_with_diagnostics(
    image: sitk.Image | PathType,
    mask: sitk.Image | PathType,
    params_path: PathType,
    *,
    prefix: str | None = None,
) -> tuple[pd.Series, dict]:
    """Like :func:`extract`, and also return PyRadiomics' ``diagnostics_*`` entries as a dict.

    The diagnostics (versions, settings, image/mask hashes, voxel counts before and after
    resampling) are provenance, not features; keys keep their ``diagnostics_`` prefix and are not
    given ``prefix``.
    """
    extractor = _extractor(*_cache_key(params_path))
    result = extractor.execute(_as_input(image), _as_input(mask))
    names, values, diagnostics = [], [], {}
    for key, value in result.items():
        if key.startswith(_DIAGNOSTICS):
            diagnostics[key] = value
        else:
            names.append(key if prefix is None else prefix + key)
            values.append(float(value))
    features = pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(names), name=None)
    return features, diagnostics


def _as_input(obj: sitk.Image | PathType) -> sitk.Image | str:
    return obj if isinstance(obj, sitk.Image) else str(obj)


def _cache_key(path: PathType) -> tuple[str, float]:
    resolved = Path(path).resolve()
    return str(resolved), resolved.stat().st_mtime


@lru_cache(maxsize=8)
def _extractor(path: str, mtime: float) -> RadiomicsFeatureExtractor:
    # mtime is part of the key so that an edited parameter file is re-read.
    try:
        return RadiomicsFeatureExtractor(path)
    except PyKwalifyException as exc:  # schema violation: unknown or mistyped setting
        raise ValueError(f"{path}: invalid PyRadiomics parameter file: {exc.msg}") from exc
