"""Tests of hccfusion.radiomics on real CT: PyRadiomics' own regression baseline (lung1), the PRIME
settings on a soft-tissue-sarcoma CT, and the IBSI digital phantom configuration.

Tests that read ``../shared/data`` skip when it is absent.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from hccfusion.imaging import read_image, read_mask
from hccfusion.radiomics import (
    DEFAULT_PARAMS,
    extract,
    extract_with_diagnostics,
    load_params,
    params_path,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = DATA / "real_ct" / "pyradiomics_cases"
STS = DATA / "real_ct" / "sts_ct" / "STS_008"  # the smallest tumour of the five: fast
PHANTOM = DATA / "ibsi" / "ibsi_1_digital_phantom" / "nifti"
PRIME = params_path("prime_ct")

FILTERS = {"original", "log-sigma-4-0-mm-3D"} | {
    f"wavelet-{a}{b}{c}" for a in "LH" for b in "LH" for c in "LH"
}
CLASSES = {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}


@pytest.fixture(scope="module")
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared real data not available at {DATA}")
    return DATA


def test_load_params_prime():
    assert PRIME == DEFAULT_PARAMS
    params = load_params(PRIME)
    setting = params["setting"]
    assert setting["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    assert setting["interpolator"] == "sitkBSpline" and setting["binWidth"] == 25
    assert setting["normalize"] is False and setting["resegmentRange"] == [-100, 400]
    assert params["imageType"]["LoG"]["sigma"] == [4.0]
    assert set(params["featureClass"]) == CLASSES
    assert load_params(params_path("ibsi_digital_phantom"))["setting"]["binWidth"] == 1


def test_load_params_rejects_unknown_setting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidht: 25\n")
    with pytest.raises(ValueError, match="binWidht"):
        load_params(bad)


def test_pyradiomics_logging_routed_to_python_logging():
    logger = logging.getLogger("radiomics")
    assert logger.level == logging.WARNING and logger.propagate
    assert not any(type(h) is logging.StreamHandler for h in logger.handlers)
    glcm = logging.getLogger("radiomics.glcm")
    noise = glcm.makeRecord(
        "radiomics.glcm", logging.WARNING, "", 0, "GLCM is symmetrical, x", (), None
    )
    real = glcm.makeRecord("radiomics.glcm", logging.WARNING, "", 0, "something else", (), None)
    assert not glcm.filter(noise) and glcm.filter(real)


def _baseline(name: str) -> pd.DataFrame:
    return pd.read_csv(CASES / "baseline" / f"baseline_{name}.csv", index_col=0)


def test_lung1_matches_pyradiomics_baseline(data, tmp_path):
    shape, firstorder = _baseline("shape"), _baseline("firstorder")
    # Reproduce the baseline's own settings (no resampling, bin width 25, voxelArrayShift 2000).
    key = "diagnostics_Configuration_Settings"
    settings = ast.literal_eval(firstorder.loc[key, "lung1"])
    assert settings == ast.literal_eval(shape.loc[key, "lung1"])
    params = {
        "imageType": {"Original": {}},
        "featureClass": {"shape": None, "firstorder": None},
        "setting": {k: v for k, v in settings.items() if v is not None},
    }
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump(params))

    image = sitk.ReadImage(str(CASES / "lung1_image.nrrd"))
    mask = sitk.ReadImage(str(CASES / "lung1_label.nrrd"))
    got = extract(image, mask, path)

    names = [
        "original_shape_MeshVolume",
        "original_shape_VoxelVolume",
        "original_shape_SurfaceArea",
        "original_shape_Sphericity",
        "original_shape_Maximum3DDiameter",
        "original_shape_MajorAxisLength",
        "original_shape_Elongation",
        "original_firstorder_Mean",
        "original_firstorder_Median",
        "original_firstorder_Energy",
        "original_firstorder_Entropy",
        "original_firstorder_Variance",
        "original_firstorder_Kurtosis",
        "original_firstorder_10Percentile",
    ]
    expected = pd.concat([shape["lung1"], firstorder["lung1"]]).loc[names].astype(float)
    np.testing.assert_allclose(got[names].to_numpy(), expected.to_numpy(), rtol=1e-6)


@pytest.fixture(scope="module")
def sts_features(data):
    image = read_image(STS / "CT_image.nii.gz")
    mask = read_mask(STS / "CT_mask.nii.gz", image)
    return extract_with_diagnostics(image, mask, PRIME, prefix="arterial_")


def test_prime_ct_on_sts_feature_families(sts_features):
    features, _ = sts_features
    assert features.dtype == np.float64 and np.isfinite(features).all()
    assert features.index.is_unique
    pattern = re.compile(r"^arterial_(?P<image>[^_]+)_(?P<cls>[a-z]+)_\w+$")
    parsed = [pattern.match(name) for name in features.index]
    assert all(parsed), [n for n, m in zip(features.index, parsed, strict=True) if not m][:5]
    assert {m["image"] for m in parsed} == FILTERS
    assert {m["cls"] for m in parsed} == CLASSES
    # Shape is computed once (original); the 6 other classes on each of the 10 images.
    assert {m["image"] for m in parsed if m["cls"] == "shape"} == {"original"}
    assert len(features) == 14 + 93 * len(FILTERS)


def test_prime_ct_diagnostics_kept_apart(sts_features):
    features, diagnostics = sts_features
    assert not any("diagnostics" in name for name in features.index)
    assert diagnostics["diagnostics_Image-interpolated_Spacing"] == (1.0, 1.0, 1.0)
    settings = diagnostics["diagnostics_Configuration_Settings"]
    assert settings["resegmentRange"] == [-100, 400] and settings["binWidth"] == 25
    assert -100 <= features["arterial_original_firstorder_Minimum"]
    assert features["arterial_original_firstorder_Maximum"] <= 400


def test_ibsi_digital_phantom_configuration(data):
    got = extract(
        PHANTOM / "image" / "phantom.nii.gz",
        PHANTOM / "mask" / "mask.nii.gz",
        params_path("ibsi_digital_phantom"),
    )
    # IBSI-1 consensus: morph_volume 556 (tol 4), stat_mean 2.15, ih_entropy 1.27.
    assert got["original_shape_MeshVolume"] == pytest.approx(556, abs=4)
    assert got["original_firstorder_Mean"] == pytest.approx(2.15, abs=0.005)
    assert got["original_firstorder_Entropy"] == pytest.approx(1.27, abs=0.005)


# --- the workflow's image preparation and per-lesion extraction ---------------------------------
@pytest.fixture(scope="module")
def lung1(data):
    return sitk.ReadImage(str(CASES / "lung1_image.nrrd")), sitk.ReadImage(
        str(CASES / "lung1_label.nrrd")
    )


@pytest.fixture(scope="module")
def fast_params(tmp_path_factory) -> Path:
    """PRIME settings restricted to original shape + first order + GLCM (fast), without the HU
    resegmentation (with it, PyRadiomics crops the mask to the resegmented ROI's bounding box
    before computing shape, which would hide the resampling effects tested here)."""
    params = yaml.safe_load(DEFAULT_PARAMS.read_text())
    params["setting"].pop("resegmentRange")
    params["imageType"] = {"Original": {}}
    params["featureClass"] = {"shape": None, "firstorder": None, "glcm": None}
    path = tmp_path_factory.mktemp("params") / "fast.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_workflow_options_follow_the_config():
    cfg = {"radiomics": {"params": "x.yaml", "spacing_mm": [1, 1, 2], "interpolator": "linear",
                         "normalisation": "hu_clip", "window": [-50, 300]},
           "segmentation": {"components": "per_lesion"}}
    from hccfusion.radiomics import workflow_options

    assert workflow_options(cfg) == {
        "preprocessing": {"spacing_mm": [1, 1, 2], "interpolator": "linear",
                          "normalisation": "hu_clip", "window": [-50, 300]},
        "per_lesion": True,
    }
    assert workflow_options({"segmentation": {"components": "merged"}})["per_lesion"] is False


def test_label_safe_resampling_keeps_the_tumour_volume(lung1, fast_params):
    """The workflow resamples the 5-mm-slice lung tumour to 1 mm itself (label-safe mask) and
    keeps its physical volume; PyRadiomics' own resampling is switched off (other numbers)."""
    image, mask = lung1
    native_mm3 = float((sitk.GetArrayViewFromImage(mask) > 0).sum()) * np.prod(mask.GetSpacing())
    nearest = extract(image, mask, fast_params)
    ours = extract(image, mask, fast_params, preprocessing={"spacing_mm": [1.0, 1.0, 1.0]})
    assert list(ours.index) == list(nearest.index)
    err_ours = abs(ours["original_shape_VoxelVolume"] - native_mm3) / native_mm3
    err_nearest = abs(nearest["original_shape_VoxelVolume"] - native_mm3) / native_mm3
    assert err_ours < 0.02 and err_nearest < 0.05
    assert ours["original_shape_VoxelVolume"] != nearest["original_shape_VoxelVolume"]
    # Same tumour, same settings otherwise: intensities agree closely.
    assert ours["original_firstorder_Median"] == pytest.approx(
        nearest["original_firstorder_Median"], rel=0.1
    )
    # spacing_mm None keeps the native grid: the volume is the native one.
    native = extract(image, mask, fast_params, preprocessing={"spacing_mm": None})
    assert native["original_shape_VoxelVolume"] == pytest.approx(native_mm3, rel=1e-6)


def test_normalisation_methods(lung1, fast_params, tmp_path):
    image, mask = lung1
    clipped = extract(image, mask, fast_params,
                      preprocessing={"normalisation": "hu_clip", "window": [-100, 0]})
    assert clipped["original_firstorder_Maximum"] <= 0 + 1e-6
    # A HU parameter file with z-scored images is refused, with the reason.
    with pytest.raises(ValueError, match="z-scores.*binWidth 25"):
        extract(image, mask, fast_params, preprocessing={"normalisation": "hu_window_zscore"})
    params = yaml.safe_load(fast_params.read_text())
    params["setting"].update(binWidth=0.1)
    zparams = tmp_path / "z.yaml"
    zparams.write_text(yaml.safe_dump(params))
    z = extract(image, mask, zparams, preprocessing={"normalisation": "hu_window_zscore"})
    assert -5 < z["original_firstorder_Mean"] < 5 and z["original_firstorder_Range"] < 10


def test_per_lesion_features_are_volume_weighted(lung1, fast_params):
    image, mask = lung1
    arr = (sitk.GetArrayFromImage(mask) > 0).astype(np.uint8)
    # Two "lesions": the tumour's slices above and below its middle, 1 slice apart.
    z = np.flatnonzero(arr.any(axis=(1, 2)))
    mid = int(z[len(z) // 2])
    labels = np.zeros_like(arr)
    labels[: mid] = arr[: mid]
    labels[mid + 1:] = 2 * arr[mid + 1:]
    label_map = sitk.GetImageFromArray(labels)
    label_map.CopyInformation(mask)
    prep = {"spacing_mm": None}
    combined = extract(image, label_map, fast_params, preprocessing=prep, per_lesion=True)
    singles = [extract(image, sitk.Cast(label_map == k, sitk.sitkUInt8), fast_params,
                       preprocessing=prep) for k in (1, 2)]
    vols = np.array([s["original_shape_VoxelVolume"] for s in singles])
    expected = (singles[0] * vols[0] + singles[1] * vols[1]) / vols.sum()
    pd.testing.assert_series_equal(combined.drop(["original_lesions_Count",
                                                  "original_lesions_TotalVolume"]),
                                   expected, check_exact=False, rtol=1e-9)
    assert combined["original_lesions_Count"] == 2
    assert combined["original_lesions_TotalVolume"] == pytest.approx(vols.sum())
    # One lesion: per-lesion extraction is the plain extraction plus the two lesion features.
    one = extract(image, sitk.Cast(label_map == 1, sitk.sitkUInt8), fast_params,
                  preprocessing=prep, per_lesion=True, prefix="venous_")
    assert one["venous_original_lesions_Count"] == 1
    assert one["venous_original_firstorder_Mean"] == singles[0]["original_firstorder_Mean"]


def test_mask_vanishing_on_the_extraction_grid_is_a_patient_input_error(lung1, fast_params):
    """A one-voxel lesion on 5 mm slices resampled to 8 mm: a PatientInputError naming the
    setting, which the workflow turns into patient, phase and file (or an exclusion)."""
    from hccfusion.errors import PatientInputError

    image, mask = lung1
    arr = np.zeros(sitk.GetArrayViewFromImage(mask).shape, np.uint8)
    idx = tuple(np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[0])
    arr[idx] = 1
    speck = sitk.GetImageFromArray(arr)
    speck.CopyInformation(mask)
    with pytest.raises(PatientInputError, match="radiomics.spacing_mm"):
        extract(image, speck, fast_params, preprocessing={"spacing_mm": [8.0, 8.0, 8.0]})
