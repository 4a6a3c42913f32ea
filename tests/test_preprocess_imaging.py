"""Resampling, normalisation, mask checks and phase agreement (hccfusion.imaging.preprocess)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccfusion.errors import PatientInputError
from hccfusion.imaging import read_image, read_mask
from hccfusion.imaging.preprocess import (
    body_mask,
    check_mask,
    check_phase_agreement,
    normalise,
    phase_agreement,
    resample_image,
    resample_mask,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STS = DATA / "real_ct" / "sts_ct"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder absent")


def _extent(img: sitk.Image) -> np.ndarray:
    return np.asarray(img.GetSize()) * np.asarray(img.GetSpacing())


def _first_voxel_edge(img: sitk.Image) -> np.ndarray:
    return np.asarray(img.GetOrigin()) - np.asarray(img.GetSpacing()) / 2  # identity direction


def _volume(mask: sitk.Image) -> float:
    return float(np.count_nonzero(sitk.GetArrayViewFromImage(mask)) * np.prod(mask.GetSpacing()))


def _demo_phase(root: Path, patient: str, phase: str) -> tuple[sitk.Image, sitk.Image]:
    row = pd.read_csv(root / "patients.tsv", sep="\t").set_index("patient_id").loc[patient]
    image = read_image(root / row[f"{phase}_image"])
    return image, read_mask(root / row[f"{phase}_mask"], image)


def _assert_resampled(image: sitk.Image, mask: sitk.Image, tol_volume: float) -> None:
    res = resample_image(image)
    res_mask = resample_mask(mask, res)
    assert res.GetSpacing() == (1.0, 1.0, 1.0)
    assert res.GetPixelID() == sitk.sitkFloat32
    assert res_mask.GetPixelID() == sitk.sitkUInt8
    assert res_mask.GetSize() == res.GetSize() and res_mask.GetOrigin() == res.GetOrigin()
    # Same physical extent: same first voxel edge, lengths within half a new voxel.
    np.testing.assert_allclose(_first_voxel_edge(res), _first_voxel_edge(image), atol=1e-4)
    np.testing.assert_allclose(_extent(res), _extent(image), atol=0.5 + 1e-6)
    assert _volume(res_mask) == pytest.approx(_volume(mask), rel=tol_volume)
    # HU preserved: the mean inside the tumour moves by a few HU at most.
    before = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) > 0].mean()
    after = sitk.GetArrayViewFromImage(res)[sitk.GetArrayViewFromImage(res_mask) > 0].mean()
    assert after == pytest.approx(before, abs=5.0)


# ----------------------------------------------------------------------------------- resampling


@needs_data
@pytest.mark.parametrize("case", ["STS_002", "STS_008"])
def test_resample_real_ct(case):
    image = sitk.ReadImage(str(STS / case / "CT_image.nii.gz"))
    mask = sitk.ReadImage(str(STS / case / "CT_mask.nii.gz"))
    assert image.GetSpacing()[2] > 3  # 3.27 mm slices: a real up-sampling in z
    _assert_resampled(image, mask, tol_volume=0.03)


def test_resample_demo(tiny_demo):
    for patient in ("A001", "A004"):
        image, mask = _demo_phase(tiny_demo, patient, "venous")
        _assert_resampled(image, mask, tol_volume=0.05)


def test_resample_other_spacing_and_interpolators():
    arr = np.random.default_rng(0).normal(40, 10, (10, 20, 20)).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.7, 5.0))
    out = resample_image(img, (2.0, 2.0, 2.0), interpolator="linear")
    assert out.GetSpacing() == (2.0, 2.0, 2.0) and out.GetSize() == (7, 7, 25)
    with pytest.raises(ValueError, match="interpolator"):
        resample_image(img, interpolator="cubic")
    with pytest.raises(ValueError, match="spacing"):
        resample_image(img, (1.0, 1.0))


def test_resample_label_map_keeps_labels():
    arr = np.zeros((8, 30, 30), np.uint8)
    arr[2:6, 3:12, 3:12] = 1
    arr[2:6, 15:28, 15:28] = 2
    lab = sitk.GetImageFromArray(arr)
    lab.SetSpacing((0.8, 0.8, 4.0))
    ref = resample_image(sitk.Cast(lab, sitk.sitkInt16))
    out = sitk.GetArrayFromImage(resample_mask(lab, ref))
    assert set(np.unique(out)) == {0, 1, 2}
    for value in (1, 2):
        before = (arr == value).sum() * 0.8 * 0.8 * 4.0
        # Boxes 7-16 mm wide: +-1 layer of 1 mm voxels per axis is the sampling limit.
        assert (out == value).sum() == pytest.approx(before, rel=0.15)


# -------------------------------------------------------------------------------- normalisation


@needs_data
def test_normalise_real_ct():
    image = sitk.ReadImage(str(STS / "STS_008" / "CT_image.nii.gz"))
    assert normalise(image, "none") is image

    clipped = sitk.GetArrayFromImage(normalise(image, "hu_clip", window=(-100, 400)))
    assert clipped.min() >= -100 and clipped.max() <= 400
    raw = sitk.GetArrayViewFromImage(image)
    inside = (raw > -100) & (raw < 400)
    np.testing.assert_allclose(clipped[inside], raw[inside])

    body = sitk.GetArrayFromImage(body_mask(image)).astype(bool)
    assert 0.2 < body.mean() < 1.0  # a patient surrounded by air
    z = sitk.GetArrayFromImage(normalise(image, "hu_window_zscore"))
    assert z.dtype == np.float32
    assert z[body].mean() == pytest.approx(0.0, abs=1e-4)
    assert z[body].std() == pytest.approx(1.0, abs=1e-4)
    assert z[~body].max() < -0.5  # air, clipped to -100 HU, lies below the body mean
    with pytest.raises(ValueError, match="method"):
        normalise(image, "minmax")
    with pytest.raises(ValueError, match="window"):
        normalise(image, "hu_clip", window=(400, -100))


def test_normalise_demo_zscore(tiny_demo):
    image, _ = _demo_phase(tiny_demo, "A001", "arterial")
    z = sitk.GetArrayFromImage(normalise(image, "hu_window_zscore"))
    body = sitk.GetArrayFromImage(body_mask(image)).astype(bool)
    assert abs(float(z[body].mean())) < 1e-4 and float(z[body].std()) == pytest.approx(1, abs=1e-4)
    assert body.mean() > 0.5 and np.isfinite(z).all()


# ----------------------------------------------------------------------------------- mask checks


def _image(shape=(20, 40, 40), spacing=(1.0, 1.0, 2.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(np.full(shape, 50, np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin((-20.0, -20.0, -20.0))
    return img


def _mask_like(img: sitk.Image, arr: np.ndarray) -> sitk.Image:
    m = sitk.GetImageFromArray(arr.astype(np.uint8))
    m.CopyInformation(img)
    return m


def _two_lesions(img: sitk.Image, small_too: bool = False) -> sitk.Image:
    arr = np.zeros(sitk.GetArrayViewFromImage(img).shape, np.uint8)
    arr[5:12, 5:20, 5:20] = 1  # 7 x 15 x 15 = 1575 voxels
    arr[6:10, 25:32, 25:32] = 1  # 4 x 7 x 7 = 196 voxels
    if small_too:
        arr[15:17, 35:37, 35:37] = 1  # 8 voxels
    return _mask_like(img, arr)


def test_check_mask_errors():
    img = _image()
    empty = _mask_like(img, np.zeros((20, 40, 40)))
    with pytest.raises(PatientInputError, match="empty") as exc:
        check_mask(empty, img, patient="P1", phase="arterial", path="m.nii.gz")
    assert (exc.value.patient, exc.value.phase, exc.value.path) == ("P1", "arterial", "m.nii.gz")

    tiny = np.zeros((20, 40, 40))
    tiny[10, 10:12, 10:12] = 1
    with pytest.raises(PatientInputError, match="too small"):
        check_mask(_mask_like(img, tiny), img, min_voxels=27)
    ok, info = check_mask(_mask_like(img, tiny), img, min_voxels=4)
    assert info["kept_voxels"] == 4

    outside = _two_lesions(img)
    outside.SetOrigin((300.0, 300.0, 300.0))  # same array, moved 30 cm away
    with pytest.raises(PatientInputError, match="outside"):
        check_mask(outside, img)
    with pytest.raises(ValueError, match="components"):
        check_mask(_two_lesions(img), img, components="all")


def test_check_mask_border_and_partial_overlap():
    img = _image()
    arr = np.zeros((20, 40, 40))
    arr[8:12, 10:20, 0:6] = 1  # touches x = 0
    mask, info = check_mask(_mask_like(img, arr), img)
    assert info["touches_border"] and info["border_faces"] == ["x-"]
    assert any("border" in w for w in info["warnings"])
    arr[:] = 0
    arr[8:12, 10:20, 10:20] = 1
    _, info = check_mask(_mask_like(img, arr), img)
    assert not info["touches_border"] and info["warnings"] == []

    # A mask on another grid, half outside the image: resampled, loss reported, border flagged.
    shifted = _mask_like(img, arr)
    shifted.SetOrigin((-20.0 - 15.0, -20.0, -20.0))
    mask, info = check_mask(shifted, img)
    assert info["resampled"] and 0.3 < info["outside_fraction"] < 0.7
    assert mask.GetSize() == img.GetSize() and info["touches_border"]


def test_check_mask_component_policies():
    img = _image()
    two = _two_lesions(img, small_too=True)
    voxel = 2.0  # mm3

    largest, info = check_mask(two, img, components="largest")
    assert info["n_components"] == 3
    assert info["component_voxels"] == [1575, 196, 8]
    assert info["component_volumes_mm3"] == [1575 * voxel, 196 * voxel, 8 * voxel]
    assert sitk.GetArrayViewFromImage(largest).sum() == 1575
    assert info["dropped_components"] == [196, 8]

    merged, info = check_mask(two, img, components="merged")
    assert set(np.unique(sitk.GetArrayViewFromImage(merged))) == {0, 1}
    assert info["kept_voxels"] == 1575 + 196 + 8

    per, info = check_mask(two, img, components="per_lesion", min_voxels=27)
    arr = sitk.GetArrayViewFromImage(per)
    assert set(np.unique(arr)) == {0, 1, 2}  # the 8-voxel speck is dropped
    assert (arr == 1).sum() == 1575 and (arr == 2).sum() == 196  # ordered by volume
    assert info["n_lesions"] == 2 and info["dropped_components"] == [8]


# ------------------------------------------------------------------------------ phase agreement


def test_phase_agreement_demo(tiny_demo):
    dices = []
    for patient in ("A001", "A003", "A004", "A006"):
        image_a, mask_a = _demo_phase(tiny_demo, patient, "arterial")
        image_v, mask_v = _demo_phase(tiny_demo, patient, "venous")
        # Put the venous mask on another grid (1 mm) so that the comparison needs resampling.
        mask_v1 = resample_mask(mask_v, resample_image(image_v))
        agreement = check_phase_agreement(mask_a, mask_v1, patient=patient)
        assert agreement["centroid_distance_mm"] < 1.0
        assert agreement["volume_ratio"] == pytest.approx(1.0, abs=0.1)
        dices.append(agreement["dice"])
    assert min(dices) > 0.8, dices


def test_phase_agreement_shifted_mask(tiny_demo):
    image, mask = _demo_phase(tiny_demo, "A004", "arterial")
    shifted = sitk.Image(mask)
    shifted.SetOrigin(tuple(np.asarray(mask.GetOrigin()) + (25.0, 0.0, 0.0)))
    agreement = phase_agreement(mask, shifted)
    assert agreement["dice"] == 0.0
    assert agreement["centroid_distance_mm"] == pytest.approx(25.0, abs=1e-6)
    with pytest.raises(PatientInputError, match="do not overlap") as exc:
        check_phase_agreement(mask, shifted, patient="A004")
    assert exc.value.patient == "A004"

    # A small shift overlaps, but beyond a strict centroid threshold it is still an error.
    nudged = sitk.Image(mask)
    nudged.SetOrigin(tuple(np.asarray(mask.GetOrigin()) + (3.0, 0.0, 0.0)))
    assert check_phase_agreement(mask, nudged)["dice"] > 0.3
    with pytest.raises(PatientInputError, match="centroids"):
        check_phase_agreement(mask, nudged, max_centroid_mm=2.0)
