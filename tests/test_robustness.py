"""Tests of hccfusion.robustness: MIRP-style perturbations and the ICC(3,1) filter."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from hccfusion.robustness import (
    estimate_noise_sd,
    icc_3_1,
    perturb,
    perturbation_plan,
    perturbed_features,
    reader_table,
    robust_features,
    robustness_report,
    second_reader_features,
    signed_distance_mm,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CT = SHARED_DATA / "real_ct" / "sts_ct" / "STS_008"

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. ICC(3,1) = 0.71.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


# --- helpers ----------------------------------------------------------------------------------
def _sphere(radius: float, spacing=(1.0, 1.0, 1.0), noise_sd: float = 0.0, seed: int = 0):
    """A sphere (mask: voxel centres within ``radius`` mm) in a smooth image plus white noise."""
    size = [int(np.ceil(2 * (radius + 8) / s)) for s in spacing]  # x, y, z
    axes = [(np.arange(n) - (n - 1) / 2 + 0.3) * s for n, s in zip(size, spacing, strict=True)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    img = np.where(r <= radius, 100.0, 40.0) + 0.5 * x
    img += np.random.default_rng(seed).normal(0.0, noise_sd, img.shape) if noise_sd else 0.0
    image = sitk.GetImageFromArray(img.astype(np.float32))
    mask = sitk.GetImageFromArray((r <= radius).astype(np.uint8))
    for im in (image, mask):
        im.SetSpacing(spacing)
        im.SetOrigin((-10.0, 5.0, 2.0))
    return image, mask


def _volume(mask: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(mask).sum() * np.prod(mask.GetSpacing()))


def _ball(r: float) -> float:
    return 4.0 / 3.0 * np.pi * r**3


@pytest.fixture(scope="module")
def small_params(tmp_path_factory) -> Path:
    """Reduced PyRadiomics settings (original image; shape, first order, GLCM) for speed."""
    params = {
        "imageType": {"Original": {}},
        "featureClass": {"shape": None, "firstorder": None, "glcm": ["Contrast", "Correlation"]},
        "setting": {"resampledPixelSpacing": [1.0, 1.0, 1.0], "interpolator": "sitkBSpline",
                    "binWidth": 25, "label": 1, "correctMask": True},
    }
    path = tmp_path_factory.mktemp("params") / "small.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def demo_phase(tiny_demo):
    from hccfusion.imaging.ingest import read_image, read_mask

    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t")
    out = {}
    for _, row in sheet[sheet["center"] == "A"].head(10).iterrows():
        image = read_image(tiny_demo / row["arterial_image"])
        out[row["patient_id"]] = (image, read_mask(tiny_demo / row["arterial_mask"], image))
    return out


# --- perturbations ----------------------------------------------------------------------------
@pytest.mark.parametrize("radius", [8.0, 12.0])
def test_erode_dilate_sphere_volume(radius):
    image, mask = _sphere(radius)
    assert _volume(mask) == pytest.approx(_ball(radius), rel=0.02)
    for kind, r_new in (("dilate", radius + 1), ("erode", radius - 1), ("dilate", radius + 2)):
        _, out = perturb(image, mask, kind=kind, magnitude=abs(r_new - radius), seed=0)
        assert _volume(out) == pytest.approx(_ball(r_new), rel=0.04), kind


def test_dilate_is_physical_with_anisotropic_voxels():
    # Target: the same sphere grown by 2 mm and sampled on the same (2 mm slice) grid; the slices
    # quantise the poles, so the tolerance is wider than on the isotropic grid.
    spacing = (0.75, 0.75, 2.0)
    image, mask = _sphere(12.0, spacing=spacing)
    _, out = perturb(image, mask, kind="dilate", magnitude=2.0, seed=0)
    _, target = _sphere(14.0, spacing=spacing)
    assert _volume(out) == pytest.approx(_volume(target), rel=0.07)
    _, out = perturb(image, mask, kind="erode", magnitude=2.0, seed=0)
    _, target = _sphere(10.0, spacing=spacing)
    assert 0.85 * _volume(target) < _volume(out) < 1.05 * _volume(target)


def test_signed_distance_is_zero_level_of_mask():
    _, mask = _sphere(6.0)
    arr = sitk.GetArrayFromImage(mask).astype(bool)
    sd = signed_distance_mm(arr, (1.0, 1.0, 1.0))
    assert np.array_equal(sd <= 0, arr)
    assert sd.max() > 5 and sd.min() < -5


def test_volume_adaptation_and_rotation_preserve_what_they_should():
    image, mask = _sphere(10.0)
    v0 = _volume(mask)
    for frac in (-0.15, 0.1):
        _, out = perturb(image, mask, kind="volume", magnitude=frac, seed=3)
        assert _volume(out) == pytest.approx(v0 * (1 + frac), abs=1.0)
    rot_image, rot_mask = perturb(image, mask, kind="rotate", magnitude=12.0, seed=0)
    assert _volume(rot_mask) == pytest.approx(v0, rel=0.01)
    # The image moved with the mask: the rotated tumour is still bright inside the rotated mask.
    inside = sitk.GetArrayFromImage(rot_image)[sitk.GetArrayFromImage(rot_mask) > 0]
    assert np.median(inside) == pytest.approx(100.0, abs=8.0)
    assert not np.array_equal(sitk.GetArrayFromImage(rot_image), sitk.GetArrayFromImage(image))


def test_noise_sd_is_estimated_and_added_as_requested():
    image, mask = _sphere(10.0, noise_sd=10.0, seed=1)
    assert estimate_noise_sd(image) == pytest.approx(10.0, rel=0.1)
    noisy, same_mask = perturb(image, mask, kind="noise", magnitude=1.5, seed=7)
    added = sitk.GetArrayFromImage(noisy) - sitk.GetArrayFromImage(image)
    assert added.std() == pytest.approx(15.0, rel=0.1)
    assert abs(added.mean()) < 0.5
    assert same_mask is mask


def test_perturbations_are_deterministic():
    image, mask = _sphere(9.0, noise_sd=5.0)
    for kind, mag in (("contour", 1.0), ("noise", 1.0), ("rotate", 5.0), ("volume", 0.1)):
        a = perturb(image, mask, kind=kind, magnitude=mag, seed=11)
        b = perturb(image, mask, kind=kind, magnitude=mag, seed=11)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(sitk.GetArrayFromImage(x), sitk.GetArrayFromImage(y)), kind
    c1 = perturb(image, mask, kind="contour", magnitude=1.0, seed=1)[1]
    c2 = perturb(image, mask, kind="contour", magnitude=1.0, seed=2)[1]
    assert not np.array_equal(sitk.GetArrayFromImage(c1), sitk.GetArrayFromImage(c2))
    assert _volume(c1) == pytest.approx(_volume(mask), rel=0.25)
    assert perturbation_plan(5, seed=3) == perturbation_plan(5, seed=3)
    assert perturbation_plan(5, seed=3) != perturbation_plan(5, seed=4)


def test_perturb_rejects_unknown_kind_and_empty_result():
    image, mask = _sphere(3.0)
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(image, mask, kind="shear", magnitude=1.0, seed=0)
    with pytest.raises(ValueError, match="empty"):
        perturb(image, mask, kind="erode", magnitude=5.0, seed=0)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared real-CT data not available")
def test_perturbations_on_real_ct():
    image = sitk.ReadImage(str(REAL_CT / "CT_image.nii.gz"))
    mask = sitk.ReadImage(str(REAL_CT / "CT_mask.nii.gz"))
    v0 = _volume(mask)
    r_eq = (3 * v0 / (4 * np.pi)) ** (1 / 3)
    _, rot = perturb(image, mask, kind="rotate", magnitude=8.0, seed=0)
    assert _volume(rot) == pytest.approx(v0, rel=0.02)
    _, grown = perturb(image, mask, kind="dilate", magnitude=1.0, seed=0)
    _, shrunk = perturb(image, mask, kind="erode", magnitude=1.0, seed=0)
    # A 1 mm shell changes the volume by about surface x 1 mm (>= the sphere's 3 V / r).
    assert _volume(grown) > v0 * (1 + 1.5 / r_eq)
    assert v0 * (1 - 6.0 / r_eq) < _volume(shrunk) < v0 * (1 - 1.5 / r_eq)
    sd = estimate_noise_sd(image)
    assert 2.0 < sd < 60.0
    noisy, _ = perturb(image, mask, kind="noise", magnitude=1.0, seed=0)
    added = sitk.GetArrayFromImage(noisy) - sitk.GetArrayFromImage(image)
    assert added.std() == pytest.approx(sd, rel=0.05)


# --- ICC --------------------------------------------------------------------------------------
def _long(values: np.ndarray, feature: str = "f") -> pd.DataFrame:
    n, k = values.shape
    return pd.DataFrame({
        "patient_id": np.repeat([f"P{i}" for i in range(n)], k),
        "rater": np.tile([f"r{j}" for j in range(k)], n),
        "feature": feature,
        "value": values.ravel(),
    })


def test_icc_shrout_fleiss_example():
    icc = icc_3_1(_long(SHROUT_FLEISS))
    assert icc["f"] == pytest.approx(0.715, abs=0.005)
    # Hand computation: MS_R = 11.24, MS_E = 1.02 (Shrout & Fleiss Table 3 / 4).
    assert icc["f"] == pytest.approx((11.2417 - 1.0194) / (11.2417 + 3 * 1.0194), abs=1e-3)


def test_icc_matches_pingouin():
    import pingouin as pg
    rng = np.random.default_rng(0)
    n, k = 30, 5
    truth = rng.normal(size=(n, 1))
    feats = {
        "reliable": truth + 0.2 * rng.normal(size=(n, k)),
        "medium": truth + 1.0 * rng.normal(size=(n, k)) + rng.normal(size=(1, k)),
        "noise": rng.normal(size=(n, k)),
    }
    long = pd.concat([_long(v, name) for name, v in feats.items()], ignore_index=True)
    ours = icc_3_1(long)
    for name in feats:
        sub = long[long["feature"] == name]
        ref = pg.intraclass_corr(sub, targets="patient_id", raters="rater", ratings="value")
        types = ref.set_index("Type")["ICC"]
        icc3 = types["ICC(C,1)"] if "ICC(C,1)" in types else types["ICC3"]  # pingouin >= 0.6
        assert ours[name] == pytest.approx(icc3, abs=1e-10)


def test_icc_wide_table_missing_values_and_constant_features():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(8, 1))
    cube = base + 0.1 * rng.normal(size=(8, 3))
    wide = _long(cube).pivot_table(index=["patient_id", "rater"], columns="feature",
                                   values="value").reset_index()
    wide["const"] = 4.0
    wide["holey"] = wide["f"]
    wide.loc[0, "holey"] = np.nan  # patient P0 is left out for this feature only
    icc = icc_3_1(wide)
    assert np.isnan(icc["const"])
    assert icc["f"] > 0.9
    dropped = wide[wide["patient_id"] != "P0"]
    assert icc["holey"] == pytest.approx(icc_3_1(dropped[["patient_id", "rater", "f"]])["f"])


def test_icc_vectorised_is_fast():
    rng = np.random.default_rng(2)
    n, k, f = 100, 5, 2000
    cube = rng.normal(size=(n, 1, f)) + 0.5 * rng.normal(size=(n, k, f))
    index = pd.MultiIndex.from_product([[f"P{i:03d}" for i in range(n)], [f"r{j}" for j in
                                        range(k)]], names=["patient_id", "rater"])
    wide = pd.DataFrame(cube.reshape(n * k, f), index=index,
                        columns=[f"feat{i}" for i in range(f)])
    start = time.perf_counter()
    icc = icc_3_1(wide)
    assert time.perf_counter() - start < 1.0
    assert icc.between(0.6, 0.95).mean() > 0.95  # true ICC = 1 / 1.25 = 0.8


def test_robust_features_uses_training_patients_only():
    rng = np.random.default_rng(3)
    n, k = 20, 4
    truth = rng.normal(size=(n, 1))
    feats = {"good": truth + 0.1 * rng.normal(size=(n, k)), "bad": rng.normal(size=(n, k)),
             "flat": np.ones((n, k))}
    long = pd.concat([_long(v, name) for name, v in feats.items()], ignore_index=True)
    train = [f"P{i}" for i in range(12)]
    kept = robust_features(long, train)
    assert kept == ["good"]
    report = robustness_report(long, train)
    assert "constant" in report.loc["flat", "reason"]
    assert report.loc["bad", "reason"].startswith("ICC(3,1)")
    # Changing validation patients' values (even wildly) must not change anything.
    other = ~long["patient_id"].isin(train)
    shuffled = long.copy()
    shuffled.loc[other, "value"] = rng.normal(size=other.sum()) * 1e3
    shuffled.loc[other & (shuffled["feature"] == "flat"), "value"] = rng.normal(size=(n - 12) * k)
    assert robust_features(shuffled, train) == kept
    pd.testing.assert_frame_equal(robustness_report(shuffled, train), report)


def test_reader_table_feeds_icc():
    rng = np.random.default_rng(4)
    ids = [f"P{i}" for i in range(10)]
    r1 = pd.DataFrame({"a": rng.normal(size=10), "b": rng.normal(size=10)}, index=ids)
    r2 = r1 + 0.01 * rng.normal(size=r1.shape)
    r2["c"] = 1.0
    table = reader_table(r1, r2.drop(index="P0"))
    assert set(table.columns) == {"patient_id", "rater", "a", "b"}
    assert len(table) == 18
    icc = icc_3_1(table)
    assert (icc > 0.99).all()


# --- on the demo cohort -----------------------------------------------------------------------
def test_perturbed_features_icc_on_demo(demo_phase, small_params):
    plan = perturbation_plan(4, seed=0)
    frames = {pid: perturbed_features(img, msk, small_params, plan, prefix="arterial_")
              for pid, (img, msk) in demo_phase.items()}
    first = next(iter(frames.values()))
    assert list(first.index) == ["original", "p01", "p02", "p03", "p04"]
    assert first.columns[0].startswith("arterial_original_")
    table = pd.concat(frames, names=["patient_id"])
    rng = np.random.default_rng(0)
    table["pure_noise"] = rng.normal(size=len(table))
    icc = icc_3_1(table)
    assert icc["arterial_original_shape_VoxelVolume"] > 0.9
    assert icc["pure_noise"] < 0.4
    kept = robust_features(table, list(frames)[:8])
    assert "arterial_original_shape_VoxelVolume" in kept and "pure_noise" not in kept
    # Same seed, same plan: same features.
    pid, (img, msk) = next(iter(demo_phase.items()))
    again = perturbed_features(img, msk, small_params, plan, prefix="arterial_")
    pd.testing.assert_frame_equal(again, frames[pid])


def test_second_reader_features_and_inter_observer_icc(demo_phase, small_params, tmp_path):
    """A second reader who draws 1 mm wider: shape ICC stays high (consistent readers); the
    features of an identical second mask equal the first reader's; a bad mask names the file."""
    from hccfusion.errors import PatientInputError
    from hccfusion.radiomics import extract

    frames = {}
    for pid, (img, msk) in list(demo_phase.items())[:6]:
        path = tmp_path / f"{pid}_r2.nii.gz"
        sitk.WriteImage(sitk.BinaryDilate(msk, [1, 1, 1]), str(path))
        original = extract(img, msk, small_params, prefix="arterial_")
        frames[pid] = second_reader_features(img, path, small_params, original=original,
                                             patient=pid, phase="arterial", prefix="arterial_")
    first = next(iter(frames.values()))
    assert list(first.index) == ["original", "reader2"]
    assert (first.loc["reader2", "arterial_original_shape_VoxelVolume"]
            > first.loc["original", "arterial_original_shape_VoxelVolume"])
    icc = icc_3_1(pd.concat(frames, names=["patient_id"]))
    # Six similar-sized demo tumours: little between-patient spread, so ICC ~0.8, not ~1.
    assert icc["arterial_original_shape_VoxelVolume"] > 0.7

    pid, (img, msk) = next(iter(demo_phase.items()))
    same = tmp_path / "same.nii.gz"
    sitk.WriteImage(msk, str(same))
    original = extract(img, msk, small_params)
    table = second_reader_features(img, same, small_params, original=original,
                                   patient=pid, phase="arterial")
    pd.testing.assert_series_equal(table.loc["reader2"], table.loc["original"],
                                   check_names=False)
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(msk * 0, str(empty))
    with pytest.raises(PatientInputError, match=rf"{pid}.*arterial.*empty.nii.gz|empty"):
        second_reader_features(img, empty, small_params, original=original,
                               patient=pid, phase="arterial")
