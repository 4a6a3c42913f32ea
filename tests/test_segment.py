"""Box-prompted segmentation and overlap metrics (hccfusion.imaging.segment)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccfusion.errors import PatientInputError
from hccfusion.imaging import read_image, read_mask
from hccfusion.imaging.segment import (
    box_to_index,
    dice,
    hd95,
    parse_boxes,
    segment_box,
    surface_distances,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STS = DATA / "real_ct" / "sts_ct"


# ------------------------------------------------------------------------------------------ boxes


def test_parse_boxes():
    assert parse_boxes(None) == [] and parse_boxes("") == [] and parse_boxes(float("nan")) == []
    assert parse_boxes("1,2,3,4,5,6") == [(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    # Corners in any order; several boxes separated by ';'.
    assert parse_boxes("4,2,6,1,5,3; -1.5,0,0,1.5,2,2") == [
        (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        (-1.5, 0.0, 0.0, 1.5, 2.0, 2.0),
    ]
    for bad in ("1,2,3,4,5", "1,2,3,4,5,x", "1,2,3,1,5,6", "1,2,3,4,5,inf"):
        with pytest.raises(ValueError, match="box"):
            parse_boxes(bad)


def test_box_to_index_and_outside():
    img = sitk.Image(20, 20, 10, sitk.sitkInt16)
    img.SetSpacing((1.0, 1.0, 2.0))
    lo, hi = box_to_index(img, (2.0, 3.0, 4.0, 5.0, 7.0, 8.0))
    assert lo.tolist() == [2, 3, 2] and hi.tolist() == [5, 7, 4]
    lo, hi = box_to_index(img, (-50.0, -50.0, -50.0, 5.0, 5.0, 5.0))  # clipped
    assert lo.tolist() == [0, 0, 0]
    assert box_to_index(img, (100, 100, 100, 110, 110, 110)) is None


# ---------------------------------------------------------------------------------------- metrics


def _sphere(centre, radius, shape=(64, 64, 64), spacing=(0.5, 0.5, 0.5)) -> sitk.Image:
    z, y, x = np.indices(shape).astype(float)
    pts = np.stack([x, y, z], -1) * np.asarray(spacing)
    arr = (np.linalg.norm(pts - np.asarray(centre), axis=-1) <= radius).astype(np.uint8)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    return img


def _expected_hd95(radius: float, offset: float) -> float:
    """P95 of the distance from sphere A's surface to sphere B's (B shifted by ``offset``).

    For a point at direction u on A, the distance to B's surface is
    |sqrt(R^2 - 2 R d u_x + d^2) - R|, and u_x is uniform on [-1, 1] for area-uniform points.
    """
    u = np.linspace(-1, 1, 200001)
    d = np.abs(np.sqrt(radius**2 - 2 * radius * offset * u + offset**2) - radius)
    return float(np.percentile(d, 95))


def test_dice_and_hd95_two_spheres():
    radius, offset = 10.0, 4.0
    a = _sphere((16.0, 16.0, 16.0), radius)
    b = _sphere((16.0 + offset, 16.0, 16.0), radius)
    # Lens volume of two spheres: pi (4R + d)(2R - d)^2 / 12.
    lens = math.pi * (4 * radius + offset) * (2 * radius - offset) ** 2 / 12
    expected_dice = 2 * lens / (2 * 4 / 3 * math.pi * radius**3)
    assert dice(a, b) == pytest.approx(expected_dice, abs=0.01)
    expected = _expected_hd95(radius, offset)  # 3.62 mm; Hausdorff (max) would be 4 mm
    assert hd95(a, b) == pytest.approx(expected, abs=0.5)  # voxel size 0.5 mm
    assert hd95(a, b) == pytest.approx(hd95(b, a), abs=1e-9)
    d_ab, d_ba = surface_distances(a, b)
    assert d_ab.max() == pytest.approx(offset, abs=0.5)

    assert dice(a, a) == 1.0 and hd95(a, a) == 0.0
    empty = sitk.Image(a)
    empty *= 0
    assert dice(empty, empty) == 1.0 and hd95(empty, empty) == 0.0
    assert dice(a, empty) == 0.0 and math.isinf(hd95(a, empty))


def test_metrics_on_different_grids():
    a = _sphere((16.0, 16.0, 16.0), 8.0)
    # The same sphere on a coarser, anisotropic grid: b is resampled onto a's grid.
    b = _sphere((16.0, 16.0, 16.0), 8.0, shape=(11, 32, 32), spacing=(1.0, 1.0, 3.0))
    assert dice(a, b) > 0.9
    assert hd95(a, b) < 2.0


# ------------------------------------------------------------------------------------ segmentation


def _rows(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "patients.tsv", sep="\t")


def test_segment_box_demo_cohort(tiny_demo):
    results = []
    for _, row in _rows(tiny_demo).iterrows():
        for phase in ("arterial", "venous"):
            image = read_image(tiny_demo / row[f"{phase}_image"])
            truth = read_mask(tiny_demo / row[f"{phase}_mask"], image)
            seg = segment_box(image, row["box_prompt"])
            assert seg.GetSize() == image.GetSize() and seg.GetOrigin() == image.GetOrigin()
            arr = sitk.GetArrayViewFromImage(seg)
            assert set(np.unique(arr)) <= {0, 1} and arr.any()
            # Confined to the boxes.
            inside = np.zeros(arr.shape, bool)
            for box in parse_boxes(row["box_prompt"]):
                lo, hi = box_to_index(image, box)
                inside[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = True
            assert not (arr.astype(bool) & ~inside).any()
            results.append((phase, dice(truth, seg), hd95(truth, seg)))
    res = pd.DataFrame(results, columns=["phase", "dice", "hd95"])
    summary = res.groupby("phase")[["dice", "hd95"]].mean().round(3)
    print(f"\nsegment_box on the tiny demo ({len(res)} phase images):\n{summary}")
    print(f"overall mean Dice {res.dice.mean():.3f}, mean HD95 {res.hd95.mean():.2f} mm")
    assert res.dice.mean() >= 0.7
    assert res.groupby("phase").dice.mean().min() >= 0.65
    assert res.hd95.median() < 3.0  # mm, for lesions 8-20 mm across on 3-5 mm slices


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder absent")
@pytest.mark.parametrize("case", ["STS_002", "STS_003"])
def test_segment_box_real_ct(case):
    image = sitk.ReadImage(str(STS / case / "CT_image.nii.gz"))
    truth = sitk.ReadImage(str(STS / case / "CT_mask.nii.gz"))
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(truth)
    bb = stats.GetBoundingBox(1)
    lo = np.asarray(truth.TransformIndexToPhysicalPoint(bb[:3]))
    hi = np.asarray(
        truth.TransformIndexToPhysicalPoint([b + n - 1 for b, n in zip(bb[:3], bb[3:], strict=True)])
    )
    box = ",".join(f"{v:.2f}" for v in (*(lo - 3), *(hi + 3)))
    seg = segment_box(image, box)
    print(f"\n{case}: Dice {dice(truth, seg):.3f}, HD95 {hd95(truth, seg):.2f} mm")
    assert dice(truth, seg) > 0.8


def test_segment_box_errors(tiny_demo):
    row = _rows(tiny_demo).iloc[0]
    image = read_image(tiny_demo / row["arterial_image"])
    with pytest.raises(PatientInputError, match="no bounding box"):
        segment_box(image, "", patient="A001")
    with pytest.raises(PatientInputError, match="outside the image") as exc:
        segment_box(image, "900,900,900,910,910,910", patient="A001", phase="arterial")
    assert exc.value.patient == "A001"
    with pytest.raises(TypeError, match="unknown"):
        segment_box(image, row["box_prompt"], smoothing=3)
    # Boxes as tuples give the same result as the text.
    as_tuples = segment_box(image, parse_boxes(row["box_prompt"]))
    as_text = segment_box(image, row["box_prompt"])
    assert dice(as_tuples, as_text) == 1.0
