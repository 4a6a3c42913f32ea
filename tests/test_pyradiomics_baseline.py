"""PyRadiomics regression: every ``lung1`` feature of PyRadiomics' own baseline, all classes.

PyRadiomics ships the expected values of its test cases (``baseline/baseline_<class>.csv``, one
column per case, settings in the ``diagnostics_Configuration_Settings`` row). Reproducing all of
them through :func:`hccfusion.radiomics.extract` shows that our installed PyRadiomics (3.0.1 built
against numpy 2, see the Makefile) and our wrapper compute what PyRadiomics' authors computed.
Complements the IBSI check (``test_ibsi.py``), which tests definitions rather than the build.

The 3-D classes use the ``lung1`` column; ``shape2D`` uses ``lung1_shape2D``, whose single-slice
mask is slice 33 of the lung1 label (347 voxels, the baseline's ``Mask-original_VoxelNum``).
Reads ``../shared/data``; skips when it is absent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from hccfusion.radiomics import extract

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = DATA / "real_ct" / "pyradiomics_cases"
CLASSES_3D = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
RTOL = 1e-4
SETTINGS = "diagnostics_Configuration_Settings"


@pytest.fixture(scope="module")
def cases() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared real data not available at {DATA}")
    return CASES


def _baseline(cases: Path, cls: str, column: str) -> tuple[pd.Series, dict]:
    table = pd.read_csv(cases / "baseline" / f"baseline_{cls}.csv", index_col=0)
    values = table[column]
    features = values[[name for name in values.index if name.startswith("original_")]]
    return features.astype(float), ast.literal_eval(values[SETTINGS])


def _params(tmp_path: Path, name: str, classes: dict[str, list[str]], settings: dict) -> Path:
    params = {
        "imageType": {"Original": {}},
        "featureClass": classes,
        "setting": {k: v for k, v in settings.items() if v is not None},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _relative_errors(got: pd.Series, expected: pd.Series) -> pd.Series:
    missing = sorted(set(expected.index) - set(got.index))
    assert not missing, f"features of the baseline not computed: {missing}"
    got = got[expected.index]
    scale = expected.abs().where(expected != 0, 1.0)
    return (got - expected).abs() / scale


@pytest.fixture(scope="module")
def lung1(cases, tmp_path_factory) -> tuple[pd.Series, pd.Series]:
    """(computed, expected) for every lung1 feature of every class, one extraction per settings."""
    expected, settings, names = [], None, {}
    for cls in CLASSES_3D:
        values, cls_settings = _baseline(cases, cls, "lung1")
        # One extraction is only valid if every class baseline used the same settings.
        assert settings is None or cls_settings == settings, cls
        settings = cls_settings
        expected.append(values)
        names[cls] = [name.split("_", 2)[2] for name in values.index]
    tmp = tmp_path_factory.mktemp("baseline")
    image = sitk.ReadImage(str(cases / "lung1_image.nrrd"))
    label = sitk.ReadImage(str(cases / "lung1_label.nrrd"))
    got = [extract(image, label, _params(tmp, "lung1", names, settings))]

    values2d, settings2d = _baseline(cases, "shape2D", "lung1_shape2D")
    expected.append(values2d)
    shape2d = {"shape2D": [name.split("_", 2)[2] for name in values2d.index]}
    got.append(extract(image, label[:, :, 33:34], _params(tmp, "shape2d", shape2d, settings2d)))
    return pd.concat(got), pd.concat(expected)


def test_lung1_baseline_is_complete(lung1):
    _, expected = lung1
    classes = {name.split("_")[1] for name in expected.index}
    assert classes == {*CLASSES_3D, "shape2D"}
    assert len(expected) == 14 + 18 + 24 + 16 + 16 + 14 + 5 + 9  # 116 features


@pytest.mark.parametrize("cls", [*CLASSES_3D, "shape2D"])
def test_lung1_matches_pyradiomics_baseline(lung1, cls):
    got, expected = lung1
    expected = expected[[name.split("_")[1] == cls for name in expected.index]]
    errors = _relative_errors(got, expected)
    worst = errors.idxmax()
    assert np.isfinite(errors).all() and errors.max() <= RTOL, (
        f"{(errors > RTOL).sum()} feature(s) beyond {RTOL:g} relative; worst {worst}: "
        f"{got[worst]!r} vs baseline {expected[worst]!r} ({errors[worst]:.2e})"
    )
